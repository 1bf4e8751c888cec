"""REST API routes of exports, included under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("exports/", api.ExportListApi.as_view(), name="exports-api-list"),
    path("exports/preview/", api.ExportPreviewApi.as_view(), name="exports-api-preview"),
    path("exports/<uuid:export_id>/", api.ExportDetailApi.as_view(), name="exports-api-detail"),
    path(
        "exports/<uuid:export_id>/download/",
        api.ExportDownloadApi.as_view(),
        name="exports-api-download",
    ),
]
