"""The REST API, version 1: each app contributes its routes under /api/v1/."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("policy.api_urls")),
    path("", include("labeling.api_urls")),
    path("", include("exports.api_urls")),
]
