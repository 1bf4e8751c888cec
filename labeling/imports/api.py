"""The import API of a campaign: one flow for prompts and candidates, all or nothing; a big
file answers 202 with an import job to poll."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import Role
from presentation.api_errors import ServiceUnavailable

from ..broker import BrokerUnavailable
from ..models import Campaign, ImportJob
from .common import ImportFailed, ImportTooLarge
from .jobs import PROBLEMS_LISTED, ImportOptions, import_upload, label_mapping_of
from .problem_files import problem_file_store
from .selectors import import_job_for_user
from .serializers import CandidateImportSerializer, ImportJobSerializer, PromptImportSerializer
from .uploads import problem_list_response, upload_limit_install


class PayloadTooLarge(exceptions.APIException):
    """The upload, or the file once decompressed, is over its limit (413)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "payload_too_large"


def failure_body(error: ImportFailed, problems_csv: str | None) -> dict[str, Any]:
    """A failed import's answer: the documented ``detail`` and ``problems`` (now the first
    :data:`PROBLEMS_LISTED`), the total, the problems grouped by kind (at most a screenful),
    how many fall outside those groups, and where to download every one (CSV)."""
    return {
        "detail": "Nothing was imported.",
        "problems": [problem.as_dict() for problem in error.problems[:PROBLEMS_LISTED]],
        "problem_count": error.total,
        "problem_groups": [group.as_dict() for group in error.shown_groups],
        "other_problems": error.not_shown,
        "problems_csv": problems_csv,
    }


class CampaignImportApi(APIView):
    """Upload a file into a campaign. 201 with the report; 400 with the problems (grouped by
    kind, the first listed by line, every one in a CSV download) and nothing stored; 413 when
    the upload or the decompressed file is over its limit. A file over
    ``IMPORT_JOB_THRESHOLD_BYTES`` answers 202 with an import job (``Location``: its URL) to
    poll; 503 when the broker cannot take it (nothing is created)."""

    permission_classes = [role_permission(Role.RESEARCHER, Role.ADMIN)]
    parser_classes = [MultiPartParser, FormParser]
    input_serializer: type[serializers.Serializer]
    kind: str

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication: a session's CSRF check is the first to read the body.
        upload_limit_install(request._request)
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, ImportTooLarge):
            exc = PayloadTooLarge(str(exc))
        return super().handle_exception(exc)

    def import_file(self, request: Request, slug: str) -> Response:
        campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = serializer.validated_data
        try:
            options = ImportOptions(
                file_format=data.get("format", ""),
                default_category=data.get("default_category"),
                default_intent=data.get("default_intent"),
                source_name=data.get("source_name", ""),
                label_mapping=label_mapping_of(data.get("label_mapping")),
                mapping=data.get("mapping"),
            )
            outcome = import_upload(
                campaign=campaign,
                kind=self.kind,
                upload=data["file"],
                options=options,
                user=request.user,
            )
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        except ImportFailed as error:
            token = problem_file_store(
                error=error, user_id=request.user.pk, campaign_id=campaign.pk
            )
            link = (
                request.build_absolute_uri(
                    reverse("api-import-problems", args=[campaign.slug, token])
                )
                if token
                else None
            )
            # Not raised: the one error handler would flatten ``problems`` into ``detail``.
            return Response(failure_body(error, link), status=status.HTTP_400_BAD_REQUEST)
        if isinstance(outcome, ImportJob):
            body = ImportJobSerializer(outcome, context={"request": request}).data
            return Response(
                body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
            )
        return Response(outcome.as_dict(), status=status.HTTP_201_CREATED)


IMPORT_RESPONSES = {
    201: OpenApiResponse(OpenApiTypes.OBJECT, description="Imported: the report"),
    202: OpenApiResponse(ImportJobSerializer, description="A big file: the job to poll"),
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Nothing imported: the problems"),
}


class PromptImportApi(CampaignImportApi):
    input_serializer = PromptImportSerializer
    kind = ImportJob.Kind.PROMPTS

    @extend_schema(request=PromptImportSerializer, responses=IMPORT_RESPONSES)
    def post(self, request: Request, slug: str) -> Response:
        return self.import_file(request, slug)


class CandidateImportApi(CampaignImportApi):
    input_serializer = CandidateImportSerializer
    kind = ImportJob.Kind.CANDIDATES

    @extend_schema(request=CandidateImportSerializer, responses=IMPORT_RESPONSES)
    def post(self, request: Request, slug: str) -> Response:
        return self.import_file(request, slug)


class ImportJobApi(APIView):
    """An import job: its status and progress while it runs (lines read, rows ready, problems
    so far), then its result: the report, or the problems as a failed import answers them."""

    permission_classes = [role_permission(Role.RESEARCHER, Role.ADMIN)]

    @extend_schema(responses={200: ImportJobSerializer})
    def get(self, request: Request, job_id: str) -> Response:
        job = import_job_for_user(request.user, job_id)
        return Response(ImportJobSerializer(job, context={"request": request}).data)


class ImportProblemsApi(APIView):
    """Every problem of a failed import (CSV: line, field, reason): only for the user who
    uploaded the file, for a day; the link comes in the failure's ``problems_csv``."""

    permission_classes = [role_permission(Role.RESEARCHER, Role.ADMIN)]

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
            404: OpenApiResponse(description="No such list, not yours, or older than a day"),
        }
    )
    def get(self, request: Request, slug: str, token: str) -> FileResponse:
        campaign = get_object_or_404(Campaign, slug=slug)
        return problem_list_response(user_id=request.user.pk, campaign=campaign, token=token)
