"""REST routes of the annotation workflow (under /api/v1/)."""

from django.urls import path

from . import api

urlpatterns = [
    path(
        "campaigns/<slug:slug>/claim/",
        api.AssignmentClaimApi.as_view(),
        name="api-annotation-claim",
    ),
    path(
        "assignments/<int:assignment_id>/judgment/",
        api.JudgmentSubmitApi.as_view(),
        name="api-annotation-judgment",
    ),
    path(
        "assignments/<int:assignment_id>/skip/",
        api.AssignmentSkipApi.as_view(),
        name="api-annotation-skip",
    ),
    path("judgments/", api.JudgmentListApi.as_view(), name="api-judgment-list"),
]
