"""Import API routes (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
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
    path("import-jobs/<uuid:job_id>/", api.ImportJobApi.as_view(), name="api-import-job"),
    path(
        "campaigns/<slug:slug>/import-problems/<slug:token>.csv",
        api.ImportProblemsApi.as_view(),
        name="api-import-problems",
    ),
]
