"""API shapes of the user admin."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import UserChange
from accounts.roles import ALL_ROLES

from . import selectors

ROLE_CHOICES = [str(role) for role in ALL_ROLES]


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    is_superuser = serializers.BooleanField(read_only=True)
    roles = serializers.SerializerMethodField()
    memberships = serializers.SerializerMethodField()
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)
    date_joined = serializers.DateTimeField(read_only=True)

    def get_roles(self, user: Any) -> list[str]:
        return selectors.role_names(user)

    def get_memberships(self, user: Any) -> dict[str, list[dict[str, Any]]]:
        return {
            entry["kind"].key: [{"id": obj.pk, "name": str(obj)} for obj in entry["objects"]]
            for entry in selectors.user_memberships(user)
        }


class MembershipsField(serializers.DictField):
    child = serializers.ListField(child=serializers.IntegerField(min_value=1))


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.CharField(required=False, allow_blank=True, default="")
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ROLE_CHOICES), required=False, default=list
    )
    password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, help_text="empty: generate one"
    )
    memberships = MembershipsField(required=False)


class UserUpdateSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True)
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=ROLE_CHOICES), required=False
    )
    is_active = serializers.BooleanField(required=False)
    memberships = MembershipsField(required=False)


class PasswordResetSerializer(serializers.Serializer):
    password = serializers.CharField(required=False, allow_blank=True, write_only=True)


class PasswordAnswerSerializer(serializers.Serializer):
    generated_password = serializers.CharField(allow_null=True)


class UserChangeSerializer(serializers.ModelSerializer):
    changed_by = serializers.CharField(source="changed_by.username", default=None)

    class Meta:
        model = UserChange
        fields = ("id", "action", "changes", "changed_by", "created_at")
