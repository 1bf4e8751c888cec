"""The REST API, version 1: each app contributes its routes under /api/v1/."""

from django.urls import include, path

from accounts.api import SignInTokenApi

urlpatterns = [
    path("auth/token/", SignInTokenApi.as_view(), name="api-token"),
    path("", include("accounts.users.api_urls")),
    path("", include("policy.api_urls")),
    path("", include("labeling.api_urls")),
    path("", include("exports.api_urls")),
]
