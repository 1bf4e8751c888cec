"""Pages of graders (under the ``labeling`` namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("graders/", views.grader_list, name="grader_list"),
    path("graders/new/", views.grader_create, name="grader_create"),
    path("graders/<slug:name>/", views.grader_detail, name="grader_detail"),
    path("graders/<slug:name>/preview/", views.grader_preview_page, name="grader_preview"),
    path("graders/<slug:name>/preview/run/", views.grader_preview_run, name="grader_preview_run"),
    path(
        "campaigns/<slug:slug>/calibration/",
        views.campaign_calibration,
        name="campaign_calibration",
    ),
    path(
        "campaigns/<slug:slug>/calibration/refresh/",
        views.campaign_calibration_refresh,
        name="campaign_calibration_refresh",
    ),
    path("graders/<slug:name>/grade/", views.grading_run_create, name="grading_run_create"),
    path("graders/<slug:name>/regrade/", views.grader_regrade, name="grader_regrade"),
    path(
        "graders/<slug:name>/impact/<int:old>/<int:new>/",
        views.regrade_impact,
        name="regrade_impact",
    ),
    path(
        "graders/<slug:name>/impact/<int:old>/<int:new>/send-to-review/",
        views.regrade_impact_send,
        name="regrade_impact_send",
    ),
    path("grading-runs/<int:pk>/", views.grading_run_detail, name="grading_run_detail"),
    path(
        "grading-runs/<int:pk>/cancel/",
        views.grading_run_action,
        {"action": "cancel"},
        name="grading_run_cancel",
    ),
    path(
        "grading-runs/<int:pk>/resume/",
        views.grading_run_action,
        {"action": "resume"},
        name="grading_run_resume",
    ),
]
