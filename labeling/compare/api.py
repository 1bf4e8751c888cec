"""``GET /api/v1/campaigns/<slug>/compare/``: the Compare page's figures as JSON."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission

from ..models import Campaign
from .figures import PREFERENCE_SOURCES
from .selectors import report_for, selection_from
from .views import COMPARE_ROLES


class CampaignCompareApi(APIView):
    permission_classes = [role_permission(*COMPARE_ROLES)]

    @extend_schema(
        parameters=[
            OpenApiParameter("source", str, enum=list(PREFERENCE_SOURCES), description="human"),
            OpenApiParameter("grader", str, description="the grader's name (grader, both)"),
            OpenApiParameter("version", int, description="default: its newest with pair grades"),
            OpenApiParameter("intent", str, description="only prompts of this intent"),
            OpenApiParameter("category", str, description="only prompts of this category"),
        ],
        responses={200: OpenApiResponse(description="head-to-head win rates and the ranking")},
        summary="Head-to-head comparisons of a campaign's sources",
        description=(
            "For every two sources (model × style): the first's win rate over the second (ties "
            "count half) with a seeded bootstrap 95% interval over pairs, and the Bradley–Terry "
            "ranking of the sources (choix) with bootstrap intervals, from human preferences, a "
            "grader version's pair grades (both orders combined), or both (`labels` says "
            "which). Two sources with no judged pair have `win_rate` null and a `note`."
        ),
    )
    def get(self, request: Request, slug: str) -> Response:
        campaign = get_object_or_404(Campaign, slug=slug)
        try:
            selection = selection_from(campaign, request.query_params)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict) from error
        return Response(report_for(campaign, selection))
