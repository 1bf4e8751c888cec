"""Model endpoint and generation run API routes (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path("endpoints/", api.EndpointListApi.as_view(), name="api-endpoint-list"),
    path("endpoints/<int:pk>/test/", api.EndpointTestApi.as_view(), name="api-endpoint-test"),
    path("generation-runs/", api.RunListApi.as_view(), name="api-run-list"),
    path("generation-runs/<int:pk>/", api.RunDetailApi.as_view(), name="api-run-detail"),
    path(
        "generation-runs/<int:pk>/cancel/",
        api.RunActionApi.as_view(action_name="cancel"),
        name="api-run-cancel",
    ),
    path(
        "generation-runs/<int:pk>/resume/",
        api.RunActionApi.as_view(action_name="resume"),
        name="api-run-resume",
    ),
]
