"""REST API of exports (under /api/v1/exports/): the same services and selectors as the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role
from labeling.broker import BrokerUnavailable
from presentation.api_errors import ServiceUnavailable

from . import selectors, services
from .learnability import services as learnability_services
from .models import Export
from .serializers import (
    ExportPreviewSerializer,
    ExportRequestSerializer,
    ExportSerializer,
    LearnabilityEstimateSerializer,
)

EXPORT_ROLES = (Role.RESEARCHER, Role.ADMIN)


class ExportListApi(generics.ListAPIView):
    """Exports the caller may see (newest first); POST starts a new export."""

    permission_classes = [role_permission(*EXPORT_ROLES)]
    serializer_class = ExportSerializer

    def get_queryset(self) -> QuerySet[Export]:
        return selectors.exports_for_user(self.request.user)

    @extend_schema(request=ExportRequestSerializer, responses={201: ExportSerializer})
    def post(self, request: Request) -> Response:
        incoming = ExportRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            export = services.export_create(user=request.user, data=incoming.spec_data())
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        return Response(ExportSerializer(export).data, status=status.HTTP_201_CREATED)


class ExportDetailApi(APIView):
    """One export with its progress, manifest and download link."""

    permission_classes = [role_permission(*EXPORT_ROLES)]

    @extend_schema(responses={200: ExportSerializer})
    def get(self, request: Request, export_id: str) -> Response:
        export = selectors.export_for_user(request.user, export_id)
        return Response(ExportSerializer(export).data)


class ExportPreviewApi(APIView):
    """How many pairs a selection would export and how many each rule leaves out."""

    permission_classes = [role_permission(*EXPORT_ROLES)]

    @extend_schema(request=ExportRequestSerializer, responses={200: ExportPreviewSerializer})
    def post(self, request: Request) -> Response:
        incoming = ExportRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        preview = services.export_preview(data=incoming.spec_data())
        return Response(ExportPreviewSerializer(preview).data)


class LearnabilityEstimateCreateApi(APIView):
    """Start a learnability estimate of a selection on a worker; poll its URL for the report."""

    permission_classes = [role_permission(*EXPORT_ROLES)]

    @extend_schema(request=ExportRequestSerializer, responses={202: LearnabilityEstimateSerializer})
    def post(self, request: Request) -> Response:
        incoming = ExportRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            estimate = learnability_services.learnability_estimate_create(
                user=request.user, data=incoming.spec_data()
            )
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        location = reverse("exports-api-estimate", args=[estimate.id])
        return Response(
            LearnabilityEstimateSerializer(estimate).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class LearnabilityEstimateDetailApi(APIView):
    """One learnability estimate (only to who asked for it, and admins)."""

    permission_classes = [role_permission(*EXPORT_ROLES)]

    @extend_schema(responses={200: LearnabilityEstimateSerializer})
    def get(self, request: Request, estimate_id: str) -> Response:
        estimate = selectors.estimate_for_user(request.user, estimate_id)
        return Response(LearnabilityEstimateSerializer(estimate).data)


class ExportDownloadApi(APIView):
    """The archive of a completed export (role- and owner-checked; never a path from input)."""

    permission_classes = [role_permission(*EXPORT_ROLES)]

    @extend_schema(
        responses={
            (200, "application/gzip"): OpenApiResponse(OpenApiTypes.BINARY),
            404: OpenApiResponse(description="No such export, or not complete"),
        }
    )
    def get(self, request: Request, export_id: str) -> Any:
        export = selectors.export_for_user(request.user, export_id)
        return download_response(export)


def download_response(export: Export) -> FileResponse:
    """Stream an export's archive as an attachment; 404 unless complete and present."""
    path = services.export_archive_path(export)
    if path is None:
        raise Http404("This export has no file to download.")
    content_type = "application/zip" if path.suffix == ".zip" else "application/gzip"
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name, content_type=content_type
    )
