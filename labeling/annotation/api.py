"""REST API of the annotation workflow: the same services and selectors as the pages."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role
from labeling.models import Assignment

from . import selectors, services
from .serializers import (
    ClaimSerializer,
    JudgmentInputSerializer,
    JudgmentSerializer,
    SkipInputSerializer,
    SkipSerializer,
)
from .validation import JudgmentInvalid, time_on_task_clean

CanAnnotate = role_permission(Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN)
BUSY_DETAIL = "Every pair left is being claimed by others at this moment; try again shortly."
BUSY_RETRY_AFTER_SECONDS = 1


def claim_payload(assignment: Assignment) -> dict[str, Any]:
    """The claim answer: the pair in the order this annotator sees it, raw text (untrusted)."""
    pair = assignment.pair
    left, right = selectors.shown_sides(pair, left_is_a=assignment.left_is_a, render=False)
    return {
        "assignment": assignment.pk,
        "pair": pair.pk,
        "campaign": assignment.campaign.slug,
        "category": pair.prompt.category_path,
        "intent": pair.prompt.intent,
        "prompt": [
            {"role": message["role"], "content": message["content"]}
            for message in selectors.prompt_messages(pair, render=False)
        ],
        "left": {"candidate": left.candidate_id, "text": left.text},
        "right": {"candidate": right.candidate_id, "text": right.text},
        "expires_at": assignment.expires_at,
    }


def _user(request: Request) -> User:
    # The permission class has already turned anonymous callers away.
    return cast(User, request.user)


def _own_assignment(request: Request, assignment_id: int) -> Assignment:
    """The caller's assignment (404 otherwise, also when their lease went to someone else)."""
    assignment = (
        Assignment.objects.select_related("campaign__policy_version")
        .filter(pk=assignment_id, annotator=_user(request))
        .first()
    )
    if assignment is None:
        raise Http404(
            "No such assignment of yours (if your lease ran out, the pair may have gone to "
            "someone else: claim again)."
        )
    if not selectors.may_annotate(request.user, assignment.campaign):
        raise PermissionDenied("You are not an annotator of this campaign.")
    return assignment


CLAIM_REASON_HEADER = "Graylab-Claim-Reason"


class AssignmentClaimApi(APIView):
    permission_classes = [CanAnnotate]

    @extend_schema(
        request=None,
        responses={
            200: ClaimSerializer,
            204: OpenApiResponse(
                description="no work for you in this campaign right now; the "
                "Graylab-Claim-Reason header says why: done, daily_cap, budget (the "
                "campaign's human budget is used up) or closed"
            ),
            503: OpenApiResponse(
                description="work remains but every pair left stayed locked by other "
                "requests while the claim retried: try again after Retry-After"
            ),
        },
        summary="Claim the next pair to judge",
        description=(
            "Leases one pair of the campaign to the caller. While that lease lives, the same "
            "pair comes back. 204 when nothing is left for the caller (or their daily cap is "
            "reached); 503 with Retry-After when pairs remain but stayed locked by other "
            "claims for the claim's whole patience (about two seconds)."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        campaign = selectors.campaign_for_annotation(request.user, slug)
        claim = services.assignment_claim(campaign=campaign, annotator=_user(request))
        if claim.reason == "busy":
            return Response(
                {"detail": BUSY_DETAIL},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
            )
        if claim.assignment is None:
            # No body on a 204: the header says why (done, daily_cap, budget, closed).
            return Response(
                status=status.HTTP_204_NO_CONTENT, headers={CLAIM_REASON_HEADER: claim.reason}
            )
        claim.assignment.campaign = campaign
        return Response(ClaimSerializer(claim_payload(claim.assignment)).data)


class JudgmentSubmitApi(APIView):
    permission_classes = [CanAnnotate]

    @extend_schema(
        request=JudgmentInputSerializer,
        responses={
            201: JudgmentSerializer,
            200: OpenApiResponse(
                JudgmentSerializer, description="already submitted: the same judgment"
            ),
            400: OpenApiResponse(description="invalid input: each bad field with its message"),
            404: OpenApiResponse(description="not your assignment"),
            409: OpenApiResponse(description="the campaign is not open"),
        },
        summary="Submit the judgment of an assignment",
        description=(
            "Sides as shown by the claim (`left`/`right`); `preference` negative means left "
            "is better. Stored in the pair's canonical order. Idempotent per assignment: the "
            "same request again answers 200 with the first judgment and creates nothing."
        ),
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = _own_assignment(request, assignment_id)
        data = request.data
        time_on_task = data.get("time_on_task_ms") if hasattr(data, "get") else None
        try:
            judgment, created = services.judgment_submit(
                assignment_id=assignment.pk,
                annotator=_user(request),
                campaign=assignment.campaign,
                data=data,
                time_on_task_ms=time_on_task_clean(time_on_task),
            )
        except JudgmentInvalid as invalid:
            return Response(invalid.errors, status=status.HTTP_400_BAD_REQUEST)
        except services.AnnotationError as error:
            return Response({"detail": error.message}, status=error.status)
        judgment = selectors.judgments_for_annotator(_user(request)).get(pk=judgment.pk)
        return Response(
            JudgmentSerializer(judgment).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AssignmentSkipApi(APIView):
    permission_classes = [CanAnnotate]

    @extend_schema(
        request=SkipInputSerializer,
        responses={
            200: SkipSerializer,
            400: OpenApiResponse(description="no reason given, or unknown flags"),
            404: OpenApiResponse(description="not your assignment"),
            409: OpenApiResponse(description="already judged"),
        },
        summary="Skip an assignment (the pair goes back to the pool for others)",
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = _own_assignment(request, assignment_id)
        data = request.data if hasattr(request.data, "get") else {}
        try:
            skip = services.assignment_skip(
                assignment_id=assignment.pk,
                annotator=_user(request),
                reason=data.get("reason", ""),
                flags=data.get("flags"),
            )
        except services.SkipInvalid as error:
            return Response({"reason": [error.message]}, status=status.HTTP_400_BAD_REQUEST)
        except services.AnnotationError as error:
            return Response({"detail": error.message}, status=error.status)
        return Response({"pair": skip.pair_id, "reason": skip.reason, "flags": skip.flags})


@extend_schema(
    parameters=[
        OpenApiParameter("campaign", str, description="only judgments in this campaign (slug)")
    ],
    summary="List your own judgments",
)
class JudgmentListApi(generics.ListAPIView):
    """The caller's own judgments, newest first; never anyone else's."""

    permission_classes = [CanAnnotate]
    serializer_class = JudgmentSerializer

    def get_queryset(self) -> Any:
        campaign = self.request.query_params.get("campaign")
        return selectors.judgments_for_annotator(
            _user(self.request),
            campaign_slug=campaign if isinstance(campaign, str) and campaign else None,
        )
