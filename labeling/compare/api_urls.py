"""REST route of the Compare figures (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "campaigns/<slug:slug>/compare/",
        api.CampaignCompareApi.as_view(),
        name="api-campaign-compare",
    ),
]
