"""Pages of the labeling app: each feature folder routes its own."""

from django.urls import include, path

app_name = "labeling"
urlpatterns = [
    path("", include("labeling.campaigns.urls")),
    path("", include("labeling.imports.urls")),
    path("", include("labeling.generation.urls")),
    path("", include("labeling.grading.urls")),
    path("", include("labeling.annotation.urls")),
    path("", include("labeling.quality.urls")),
    path("", include("labeling.compare.urls")),
    path("", include("labeling.browser.urls")),
]
