"""The policy REST API: every signed-in role reads; only admins edit, publish and import.

The views parse input, check the role and call the same services and selectors as the pages.
Services raise ``PolicyError`` before changing anything; the API's error handler
(``presentation.api_errors``) answers it 400 with ``{field: [reason]}``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import yaml
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import role_permission
from accounts.roles import ALL_ROLES, Role
from presentation.api_errors import Conflict
from presentation.parsers import JSONParser

from . import selectors, services
from .document import FORMATS, PolicyError, dump_document, guess_format, parse_document
from .models import Category, PolicyChange, PolicyVersion
from .serializers import (
    CategoryCreateSerializer,
    CategorySerializer,
    CategoryUpdateSerializer,
    ImportResultSerializer,
    ImportUploadSerializer,
    PolicyChangeSerializer,
    PublishSerializer,
    VersionDetailSerializer,
    VersionSerializer,
    WorkingPolicySerializer,
    WorkingPolicyUpdateSerializer,
)

IsReader = role_permission(*ALL_ROLES)
IsAdmin = role_permission(Role.ADMIN)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadAllWriteAdmin(APIView):
    """Readers for safe methods, admins for everything else."""

    def get_permissions(self) -> list[BasePermission]:
        permission = IsReader if self.request.method in READ_METHODS else IsAdmin
        return [permission()]


def _parent_from(path: Any) -> Category | None:
    if path is None or (isinstance(path, str) and not path.strip().strip("/")):
        return None
    category = Category.objects.filter(path=str(path).strip().strip("/")).first()
    if category is None:
        raise PolicyError.single("parent", f"unknown parent {path!r}")
    return category


class CategoryListApi(ReadAllWriteAdmin, generics.ListAPIView[Category]):
    """The working taxonomy. POST (admins) adds a category at the end of its parent."""

    serializer_class = CategorySerializer

    def get_queryset(self) -> QuerySet[Category]:
        return selectors.working_categories()

    @extend_schema(request=CategoryCreateSerializer, responses={201: CategorySerializer})
    def post(self, request: Request) -> Response:
        serializer = CategoryCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        category = services.category_create(
            user=request.user,
            parent=_parent_from(data.get("parent")),
            slug=data["slug"],
            name=data["name"],
            description=data.get("description", ""),
            guidance=data.get("guidance"),
            examples_acceptable=data.get("examples_acceptable"),
            examples_unacceptable=data.get("examples_unacceptable"),
        )
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class CategoryDetailApi(ReadAllWriteAdmin):
    """One working category. PATCH edits, renames, moves (``parent``), reorders (``order``)
    and (de)activates (``active``); DELETE only works for a never-published leaf."""

    serializer_class = CategorySerializer

    def _category(self, pk: int) -> Category:
        return get_object_or_404(Category.objects.select_related("parent"), pk=pk)

    @extend_schema(responses=CategorySerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(CategorySerializer(self._category(pk)).data)

    @extend_schema(request=CategoryUpdateSerializer, responses=CategorySerializer)
    def patch(self, request: Request, pk: int) -> Response:
        category = self._category(pk)
        serializer = CategoryUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # One request may carry several kinds of edit: all of them or none.
        with transaction.atomic():
            category = self._apply(request, category, data)
        return Response(CategorySerializer(self._category(pk)).data)

    def _apply(self, request: Request, category: Category, data: dict[str, Any]) -> Category:
        """Apply each kind of edit the request carries, in a fixed order."""
        parent = _parent_from(data["parent"]) if "parent" in data else None
        text_fields = (
            "slug",
            "name",
            "description",
            "guidance",
            "examples_acceptable",
            "examples_unacceptable",
        )
        if any(field in data for field in text_fields):
            category = services.category_update(
                user=request.user,
                category=category,
                **{field: data[field] for field in text_fields if field in data},
            )
        if "parent" in data:
            category = services.category_move(user=request.user, category=category, parent=parent)
        if "order" in data:
            category = services.category_reorder(
                user=request.user, category=category, position=data["order"]
            )
        if "active" in data:
            category = services.category_set_active(
                user=request.user, category=category, active=data["active"]
            )
        return category

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        try:
            services.category_delete(user=request.user, category=self._category(pk))
        except PolicyError as error:
            # A valid request the category's state refuses (published, or has children).
            raise Conflict(str(error)) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkingPolicyDetailApi(ReadAllWriteAdmin):
    """The working rubric text, level descriptions and severity->safety mapping."""

    serializer_class = WorkingPolicySerializer

    @extend_schema(responses=WorkingPolicySerializer)
    def get(self, request: Request) -> Response:
        return Response(WorkingPolicySerializer(selectors.working_policy()).data)

    @extend_schema(request=WorkingPolicyUpdateSerializer, responses=WorkingPolicySerializer)
    def patch(self, request: Request) -> Response:
        serializer = WorkingPolicyUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        working = services.working_policy_update(user=request.user, **serializer.validated_data)
        return Response(WorkingPolicySerializer(working).data)


class VersionListApi(generics.ListAPIView[PolicyVersion]):
    """Published versions, newest first."""

    serializer_class = VersionSerializer
    permission_classes = [IsReader]

    def get_queryset(self) -> QuerySet[PolicyVersion]:
        return selectors.version_list()


class VersionDetailApi(generics.RetrieveAPIView[PolicyVersion]):
    """One published version with its frozen snapshot."""

    serializer_class = VersionDetailSerializer
    permission_classes = [IsReader]
    lookup_field = "number"

    def get_queryset(self) -> QuerySet[PolicyVersion]:
        return selectors.version_list()


class VersionDiffApi(APIView):
    """What changed from version ``old`` to version ``new``."""

    permission_classes = [IsReader]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, old: int, new: int) -> Response:
        get_object_or_404(PolicyVersion, number=old)
        get_object_or_404(PolicyVersion, number=new)
        return Response(selectors.version_diff(old, new))


class VersionGuidanceApi(APIView):
    """Guidance for one category of a version (``?path=``), as the annotation page shows it."""

    permission_classes = [IsReader]

    @extend_schema(
        parameters=[OpenApiParameter("path", str, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, number: int) -> Response:
        version = get_object_or_404(PolicyVersion, number=number)
        return Response(selectors.category_guidance(version, request.query_params.get("path", "")))


class PolicyPublishApi(APIView):
    """Freeze the working policy as the next version (admins)."""

    permission_classes = [IsAdmin]

    @extend_schema(request=PublishSerializer, responses={201: VersionDetailSerializer})
    def post(self, request: Request) -> Response:
        serializer = PublishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.policy_publish(
            user=request.user, notes=serializer.validated_data.get("notes", "")
        )
        return Response(VersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class PolicyImportApi(APIView):
    """Replace the working policy with a document: a JSON body, or a JSON/YAML file upload."""

    permission_classes = [IsAdmin]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": ImportUploadSerializer,
        },
        responses={200: ImportResultSerializer},
    )
    def post(self, request: Request) -> Response:
        if "file" in request.FILES:
            upload = request.FILES["file"]
            file_format = request.data.get("format") or guess_format(upload.name or "")
            if file_format is None:
                raise ValidationError({"format": ["cannot tell from the file name"]})
            document = parse_document(upload.read(), str(file_format))
        else:
            document = request.data
        result = services.policy_import(user=request.user, document=document)
        return Response({"categories": result.categories, "diff": result.diff})


class YAMLRenderer(BaseRenderer):
    """Lets ``?format=yaml`` through DRF's negotiation; error bodies are rendered as YAML."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> Any:
        if isinstance(data, str | bytes):
            return data
        # Error bodies hold ErrorDetail (a str subclass the safe dumper refuses): plain them.
        plain = json.loads(json.dumps(data, default=str))
        return yaml.safe_dump(plain, allow_unicode=True, sort_keys=False)


class PolicyExportApi(APIView):
    """A version (``?version=N``; every role) or the working policy (admins) as JSON or YAML."""

    permission_classes = [IsReader]
    # ``?format=`` is also DRF's renderer switch: both formats must have a renderer.
    renderer_classes = [JSONRenderer, YAMLRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("version", int, required=False, description="Omit: working copy"),
            OpenApiParameter("format", str, enum=list(FORMATS), required=False),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.STR,
            403: OpenApiResponse(description="Only admins may export the working copy"),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        file_format = request.query_params.get("format", "json")
        if file_format not in FORMATS:
            raise ValidationError({"format": ["must be json or yaml"]})
        raw = request.query_params.get("version", "")
        version: int | None
        if raw in {"", "working"}:
            if not IsAdmin().has_permission(request, self):
                raise PermissionDenied("Only admins may export the working taxonomy.")
            version = None
        else:
            try:
                version = int(raw)
            except ValueError as error:
                raise ValidationError({"version": ["must be a version number"]}) from error
            get_object_or_404(PolicyVersion, number=version)
        content = dump_document(selectors.export_for(version), file_format)
        content_type = "application/json" if file_format == "json" else "application/yaml"
        return HttpResponse(content, content_type=f"{content_type}; charset=utf-8")


class PolicyChangeListApi(generics.ListAPIView[PolicyChange]):
    """Changes of the working policy, newest first; ``?category=<uid>`` for one category."""

    serializer_class = PolicyChangeSerializer
    permission_classes = [IsAdmin]

    @extend_schema(parameters=[OpenApiParameter("category", OpenApiTypes.UUID, required=False)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[PolicyChange]:
        queryset = PolicyChange.objects.select_related("user")
        category = self.request.query_params.get("category")
        if category:
            try:
                queryset = queryset.filter(category_uid=uuid.UUID(category))
            except ValueError as error:
                raise ValidationError({"category": ["is not a UUID"]}) from error
        return queryset
