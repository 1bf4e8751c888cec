"""The import API of a campaign: one flow for prompts and candidates, all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role

from ..models import Campaign
from .candidates import candidate_import
from .common import ImportFailed, ImportReport
from .prompts import prompt_import
from .serializers import CandidateImportSerializer, PromptImportSerializer


class CampaignImportApi(APIView):
    """Upload a file into a campaign. 201 with the report, or 400 with every problem (line,
    field, reason) and nothing stored."""

    permission_classes = [role_permission(Role.RESEARCHER, Role.ADMIN)]
    parser_classes = [MultiPartParser, FormParser]
    input_serializer: type[serializers.Serializer]
    run: Callable[..., ImportReport]
    # Validated fields passed on to ``run`` as they are (the file and defaults are common).
    extra_fields: tuple[str, ...] = ()

    def import_file(self, request: Request, slug: str) -> Response:
        campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        try:
            report = self.run(
                campaign=campaign,
                source=data["file"],
                file_format=data.get("format", ""),
                filename=data["file"].name,
                default_category=data.get("default_category"),
                default_intent=data.get("default_intent"),
                **{field: data[field] for field in self.extra_fields},
            )
        except ImportFailed as error:
            return Response(
                {
                    "detail": "Nothing was imported.",
                    "problems": [problem.as_dict() for problem in error.problems],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class PromptImportApi(CampaignImportApi):
    input_serializer = PromptImportSerializer
    run = staticmethod(prompt_import)

    @extend_schema(request=PromptImportSerializer, responses=dict)
    def post(self, request: Request, slug: str) -> Response:
        return self.import_file(request, slug)


class CandidateImportApi(CampaignImportApi):
    input_serializer = CandidateImportSerializer
    run = staticmethod(candidate_import)
    extra_fields = ("source_name",)

    @extend_schema(request=CandidateImportSerializer, responses=dict)
    def post(self, request: Request, slug: str) -> Response:
        return self.import_file(request, slug)
