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
        "campaigns/<slug:slug>/calibration/",
        api.CampaignCalibrationApi.as_view(),
        name="api-campaign-calibration",
    ),
]
