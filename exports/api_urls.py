"""REST API routes of exports, included under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("exports/", api.ExportListApi.as_view(), name="exports-api-list"),
    path("exports/preview/", api.ExportPreviewApi.as_view(), name="exports-api-preview"),
    path(
        "exports/learnability/",
        api.LearnabilityEstimateCreateApi.as_view(),
        name="exports-api-estimate-create",
    ),
    path(
        "exports/learnability/<uuid:estimate_id>/",
        api.LearnabilityEstimateDetailApi.as_view(),
        name="exports-api-estimate",
    ),
    path("exports/<uuid:export_id>/", api.ExportDetailApi.as_view(), name="exports-api-detail"),
    path(
        "exports/<uuid:export_id>/download/",
        api.ExportDownloadApi.as_view(),
        name="exports-api-download",
    ),
]
