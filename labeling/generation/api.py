"""REST API of model endpoints (admins) and generation runs."""

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
from presentation.api_errors import ServiceUnavailable

from ..broker import BrokerUnavailable
from ..models import Campaign, GenerationRun, ModelEndpoint
from . import endpoints, runs
from . import selectors as generation_selectors
from .client import CallError
from .serializers import (
    EndpointSerializer,
    RunCreateSerializer,
    RunSerializer,
)
from .styles import style_resolve

Research = role_permission(Role.RESEARCHER, Role.ADMIN)


AdminOnly = role_permission(Role.ADMIN)


class EndpointListApi(APIView):
    permission_classes = [AdminOnly]

    @extend_schema(responses=EndpointSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(EndpointSerializer(generation_selectors.endpoint_list(), many=True).data)

    @extend_schema(request=EndpointSerializer, responses=EndpointSerializer)
    def post(self, request: Request) -> Response:
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = endpoints.endpoint_create(**serializer.validated_data)
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointTestApi(APIView):
    permission_classes = [AdminOnly]

    @extend_schema(request=None, responses=dict)
    def post(self, request: Request, pk: int) -> Response:
        endpoint = get_object_or_404(ModelEndpoint, pk=pk)
        try:
            models = endpoints.endpoint_test(endpoint=endpoint)
        except CallError as error:
            return Response({"ok": False, "error": str(error)}, status=status.HTTP_502_BAD_GATEWAY)
        return Response({"ok": True, "models": models})


class RunListApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=RunSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(RunSerializer(generation_selectors.run_list()[:200], many=True).data)

    @extend_schema(request=RunCreateSerializer, responses=RunSerializer)
    def post(self, request: Request) -> Response:
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        campaign = get_object_or_404(Campaign, slug=data["campaign"])
        chosen = list(ModelEndpoint.objects.filter(name__in=data["endpoints"]))
        if len(chosen) != len(set(data["endpoints"])):
            raise ValidationError({"endpoints": ["Unknown endpoint name."]})
        try:
            styles = [style_resolve(s["name"], s.get("system_prompt", "")) for s in data["styles"]]
        except ValueError as error:
            raise ValidationError({"styles": [str(error)]}) from error
        try:
            run = runs.run_create(
                campaign=campaign,
                endpoints=chosen,
                styles=styles,
                samples_per_prompt=data["samples_per_prompt"],
                temperature=data["temperature"],
                max_tokens=data["max_tokens"],
                seed=data["seed"],
                prompt_limit=data.get("prompt_limit"),
                created_by=request.user,  # type: ignore[arg-type]
            )
        except BrokerUnavailable as error:
            raise ServiceUnavailable(error.message) from error
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = [Research]

    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, pk: int) -> Response:
        run = generation_selectors.run_get(run_id=pk)
        progress = generation_selectors.run_progress(run=run)
        data = dict(RunSerializer(run).data)
        data["progress"] = {
            key: value for key, value in progress.items() if key not in ("failures",)
        }
        return Response(data)


class RunActionApi(APIView):
    permission_classes = [Research]
    action_name = ""

    @extend_schema(request=None, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(GenerationRun, pk=pk)
        if self.action_name == "cancel":
            runs.run_cancel(run=run)
        else:
            runs.run_resume(run=run)
        run.refresh_from_db()
        return Response(RunSerializer(run).data)
