"""API routes of campaigns, imports, model endpoints and generation runs."""

from django.urls import path

from . import api_campaigns as api

urlpatterns = [
    path("campaigns/", api.CampaignListApi.as_view(), name="api-campaign-list"),
    path("campaigns/<slug:slug>/", api.CampaignDetailApi.as_view(), name="api-campaign-detail"),
    path(
        "campaigns/<slug:slug>/status/",
        api.CampaignStatusApi.as_view(),
        name="api-campaign-status",
    ),
    path(
        "campaigns/<slug:slug>/prompts/import/",
        api.PromptImportApi.as_view(),
        name="api-prompt-import",
    ),
    path(
        "campaigns/<slug:slug>/candidates/import/",
        api.CandidateImportApi.as_view(),
        name="api-candidate-import",
    ),
    path("endpoints/", api.EndpointListApi.as_view(), name="api-endpoint-list"),
    path("endpoints/<int:pk>/test/", api.EndpointTestApi.as_view(), name="api-endpoint-test"),
    path("generation-runs/", api.RunListApi.as_view(), name="api-run-list"),
    path("generation-runs/<int:pk>/", api.RunDetailApi.as_view(), name="api-run-detail"),
    path(
        "generation-runs/<int:pk>/cancel/",
        api.RunActionApi.as_view(action_name="cancel"),
        name="api-run-cancel",
    ),
    path(
        "generation-runs/<int:pk>/resume/",
        api.RunActionApi.as_view(action_name="resume"),
        name="api-run-resume",
    ),
]
