"""Campaign API routes (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("campaigns/", api.CampaignListApi.as_view(), name="api-campaign-list"),
    path("campaigns/<slug:slug>/", api.CampaignDetailApi.as_view(), name="api-campaign-detail"),
    path(
        "campaigns/<slug:slug>/routing/",
        api.CampaignRoutingApi.as_view(),
        name="api-campaign-routing",
    ),
    path(
        "campaigns/<slug:slug>/status/",
        api.CampaignStatusApi.as_view(),
        name="api-campaign-status",
    ),
]
