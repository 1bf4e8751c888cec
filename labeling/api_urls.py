"""REST API routes of the labeling app (under /api/v1/): each feature folder routes its own."""

from django.urls import include, path

urlpatterns = [
    path("", include("labeling.campaigns.api_urls")),
    path("", include("labeling.imports.api_urls")),
    path("", include("labeling.generation.api_urls")),
    path("", include("labeling.grading.api_urls")),
    path("", include("labeling.annotation.api_urls")),
    path("", include("labeling.quality.api_urls")),
    path("", include("labeling.compare.api_urls")),
    path("", include("labeling.browser.api_urls")),
]
