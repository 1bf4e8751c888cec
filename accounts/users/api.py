"""REST API of the user admin (admins only), over the same services as the pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import UserChange
from accounts.permissions import role_permission
from accounts.roles import Role

from . import selectors, services
from .serializers import (
    PasswordAnswerSerializer,
    PasswordResetSerializer,
    UserChangeSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)

IsAdmin = role_permission(Role.ADMIN)


@extend_schema(
    parameters=[
        OpenApiParameter("q", str, description="search in user name, e-mail and name"),
        OpenApiParameter("role", str, enum=[str(role) for role in Role]),
        OpenApiParameter("active", str, enum=["active", "inactive"]),
    ]
)
class UserListApi(generics.ListAPIView):
    """``GET /api/v1/users/``: every account; ``POST``: create one (the answer carries a
    generated password once when none was given)."""

    permission_classes = [IsAdmin]
    serializer_class = UserSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.user_list(
            search=params.get("q", ""), role=params.get("role", ""), active=params.get("active", "")
        )

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def post(self, request: Request) -> Response:
        body = UserCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user, outcome = services.user_create(
            by=request.user,
            username=data["username"],
            email=data.get("email", ""),
            roles=data.get("roles", []),
            password=data.get("password") or None,
            memberships=data.get("memberships"),
        )
        answer = dict(UserSerializer(user).data)
        answer["generated_password"] = outcome.generated
        return Response(
            answer, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"}
        )


class UserDetailApi(APIView):
    """``GET``/``PATCH /api/v1/users/<id>/``: e-mail, roles, ``is_active``, memberships."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request, pk: int) -> Response:
        user = get_object_or_404(get_user_model(), pk=pk)
        return Response(UserSerializer(user).data)

    @extend_schema(request=UserUpdateSerializer, responses=UserSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        user: Any = get_object_or_404(get_user_model(), pk=pk)
        body = UserUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        # All or nothing: a refused active change takes the other changes back with it.
        with transaction.atomic():
            user = services.user_update(
                by=request.user,
                user=user,
                email=data.get("email"),
                roles=data.get("roles"),
                memberships=data.get("memberships"),
            )
            if "is_active" in data:
                user = services.user_set_active(
                    by=request.user, user=user, active=data["is_active"]
                )
        return Response(UserSerializer(user).data)


class UserPasswordApi(APIView):
    """``POST /api/v1/users/<id>/password/`` with ``{"password": …}`` sets it (checked against
    the password rules); with none, one is generated and answered once."""

    permission_classes = [IsAdmin]

    @extend_schema(request=PasswordResetSerializer, responses=PasswordAnswerSerializer)
    def post(self, request: Request, pk: int) -> Response:
        user = get_object_or_404(get_user_model(), pk=pk)
        body = PasswordResetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = services.user_password_reset(
            by=request.user, user=user, password=body.validated_data.get("password") or None
        )
        return Response(
            {"generated_password": outcome.generated}, headers={"Cache-Control": "no-store"}
        )


class UserChangeListApi(generics.ListAPIView):
    """``GET /api/v1/users/<id>/changes/``: the account's audit log, newest first."""

    permission_classes = [IsAdmin]
    serializer_class = UserChangeSerializer

    def get_queryset(self) -> Any:
        user = get_object_or_404(get_user_model(), pk=self.kwargs["pk"])
        return (
            UserChange.objects.filter(user=user)
            .select_related("changed_by")
            .order_by("-created_at", "-id")
        )
