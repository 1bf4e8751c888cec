"""Grader API routes (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("graders/", api.GraderListApi.as_view(), name="api-grader-list"),
    path("graders/<slug:name>/", api.GraderDetailApi.as_view(), name="api-grader-detail"),
    path(
        "graders/<slug:name>/versions/",
        api.GraderVersionListApi.as_view(),
        name="api-grader-versions",
    ),
    path(
        "graders/<slug:name>/preview/",
        api.GraderPreviewApi.as_view(),
        name="api-grader-preview",
    ),
    path(
        "graders/<slug:name>/regrade/",
        api.GraderRegradeApi.as_view(),
        name="api-grader-regrade",
    ),
    path(
        "graders/<slug:name>/impact/<int:old>/<int:new>/",
        api.RegradeImpactApi.as_view(),
        name="api-regrade-impact",
    ),
    path(
        "graders/<slug:name>/impact/<int:old>/<int:new>/send-to-review/",
        api.RegradeImpactSendApi.as_view(),
        name="api-regrade-impact-send",
    ),
    path(
        "campaigns/<slug:slug>/calibration/",
        api.CampaignCalibrationApi.as_view(),
        name="api-campaign-calibration",
    ),
    path("grading-runs/", api.GradingRunListApi.as_view(), name="api-grading-run-list"),
    path(
        "grading-runs/<int:pk>/",
        api.GradingRunDetailApi.as_view(),
        name="api-grading-run-detail",
    ),
    path(
        "grading-runs/<int:pk>/cancel/",
        api.GradingRunActionApi.as_view(action_name="cancel"),
        name="api-grading-run-cancel",
    ),
    path(
        "grading-runs/<int:pk>/resume/",
        api.GradingRunActionApi.as_view(action_name="resume"),
        name="api-grading-run-resume",
    ),
]
