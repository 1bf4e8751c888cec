"""REST API of campaigns: list, create, detail, status."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role
from policy.models import PolicyVersion

from ..models import Campaign
from ..routing.selectors import routing_summary
from . import selectors as campaign_selectors
from . import services as campaign_services
from .serializers import (
    CampaignCreateSerializer,
    CampaignSerializer,
    CampaignStatusSerializer,
    CampaignUpdateSerializer,
    RoutingSettingsSerializer,
    RoutingSummarySerializer,
)

ROUTING_SETTINGS = tuple(RoutingSettingsSerializer().fields)

Research = role_permission(Role.RESEARCHER, Role.ADMIN)


class CampaignListApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=CampaignSerializer(many=True))
    def get(self, request: Request) -> Response:
        campaigns = campaign_selectors.campaign_list_with_counts()
        return Response(CampaignSerializer(campaigns, many=True).data)

    @extend_schema(request=CampaignCreateSerializer, responses=CampaignSerializer)
    def post(self, request: Request) -> Response:
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = None
        if data.get("policy_version"):
            version = PolicyVersion.objects.filter(number=data["policy_version"]).first()
            if version is None:
                raise ValidationError({"policy_version": ["No such policy version."]})
        campaign = campaign_services.campaign_create(
            name=data["name"],
            slug=data["slug"],
            policy_version=version,
            instructions=data["instructions"],
            judgments_per_pair=data["judgments_per_pair"],
            open_now=data["open"],
            show_gold_score=data["show_gold_score"],
            created_by=request.user,  # type: ignore[arg-type]
            **{name: data[name] for name in ROUTING_SETTINGS if name in data},
        )
        return Response(
            CampaignSerializer(campaign_selectors.campaign_get(slug=campaign.slug)).data,
            status=status.HTTP_201_CREATED,
        )


class CampaignDetailApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=CampaignSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(CampaignSerializer(campaign_selectors.campaign_get(slug=slug)).data)

    @extend_schema(
        request=CampaignUpdateSerializer,
        responses=CampaignSerializer,
        summary="Change a campaign's settings",
        description=(
            "Changes the settings named (name, instructions, judgments per pair, "
            "`show_gold_score`: annotators see their own gold score, and the "
            "routing: `routing` uniform or grader-first, `routing_grader` by name, "
            "`human_budget`, `accept_confidence`, `accept_consistency`, "
            "`spot_check_share`). A refused change names its field and changes nothing; a "
            "routing change has the pairs' ranks recomputed on a worker."
        ),
    )
    def patch(self, request: Request, slug: str) -> Response:
        serializer = CampaignUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = get_object_or_404(Campaign, slug=slug)
        campaign_services.campaign_update(campaign=campaign, **serializer.validated_data)
        return Response(CampaignSerializer(campaign_selectors.campaign_get(slug=slug)).data)


class CampaignRoutingApi(APIView):
    permission_classes = [Research]

    @extend_schema(
        responses=RoutingSummarySerializer,
        summary="What the campaign's routing has done",
        description=(
            "Human budget used (judgments plus live leases), pairs accepted as AI labels and "
            "spot-checked, and on the finished spot checks how often humans agreed with the "
            "accepted grade."
        ),
    )
    def get(self, request: Request, slug: str) -> Response:
        campaign = get_object_or_404(
            Campaign.objects.select_related("routing_grader", "routed_version__grader"), slug=slug
        )
        return Response(RoutingSummarySerializer(routing_summary(campaign=campaign).as_dict()).data)


class CampaignStatusApi(APIView):
    permission_classes = [Research]

    @extend_schema(request=CampaignStatusSerializer, responses=CampaignSerializer)
    def post(self, request: Request, slug: str) -> Response:
        serializer = CampaignStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = get_object_or_404(Campaign, slug=slug)
        campaign_services.campaign_set_status(
            campaign=campaign, status=serializer.validated_data["status"]
        )
        return Response(CampaignSerializer(campaign_selectors.campaign_get(slug=slug)).data)
