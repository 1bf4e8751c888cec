"""Pages of campaigns, imports, model endpoints and generation runs."""

from django.urls import path

from . import views_campaigns as views

urlpatterns = [
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<slug:slug>/edit/", views.campaign_edit, name="campaign_edit"),
    path("campaigns/<slug:slug>/status/", views.campaign_status, name="campaign_status"),
    path(
        "campaigns/<slug:slug>/import/prompts/",
        views.campaign_import_prompts,
        name="campaign_import_prompts",
    ),
    path(
        "campaigns/<slug:slug>/import/candidates/",
        views.campaign_import_candidates,
        name="campaign_import_candidates",
    ),
    path("campaigns/<slug:slug>/generate/", views.run_create, name="run_create"),
    path("runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("runs/<int:pk>/cancel/", views.run_action, {"action": "cancel"}, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_action, {"action": "resume"}, name="run_resume"),
    path("runs/<int:pk>/recover/", views.run_action, {"action": "recover"}, name="run_recover"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_form, name="endpoint_create"),
    path("endpoints/<int:pk>/edit/", views.endpoint_form, name="endpoint_edit"),
    path("endpoints/<int:pk>/test/", views.endpoint_test, name="endpoint_test"),
]
