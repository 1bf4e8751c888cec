"""REST API routes of exports, included under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("exports/", api.ExportListCreateView.as_view(), name="exports-api-list"),
    path("exports/preview/", api.ExportPreviewView.as_view(), name="exports-api-preview"),
    path("exports/<uuid:export_id>/", api.ExportDetailView.as_view(), name="exports-api-detail"),
    path(
        "exports/<uuid:export_id>/download/",
        api.ExportDownloadView.as_view(),
        name="exports-api-download",
    ),
]
