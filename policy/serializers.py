"""DRF serializers of the policy API. They shape input and output; services validate."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Category, PolicyChange, PolicyVersion, WorkingPolicy


class CategorySerializer(serializers.ModelSerializer[Category]):
    parent = serializers.SerializerMethodField()  # type: ignore[assignment]
    guidance = serializers.DictField(child=serializers.CharField())
    examples_acceptable = serializers.ListField(child=serializers.CharField())
    examples_unacceptable = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Category
        fields = (
            "id",
            "uid",
            "path",
            "parent",
            "slug",
            "name",
            "description",
            "guidance",
            "examples_acceptable",
            "examples_unacceptable",
            "active",
            "order",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_parent(self, category: Category) -> str | None:
        return category.parent.path if category.parent else None


class CategoryCreateSerializer(serializers.Serializer[Any]):
    parent = serializers.CharField(  # type: ignore[assignment]
        allow_null=True, required=False, help_text="Path of the parent; null: top level"
    )
    slug = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=400)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    guidance = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    examples_acceptable = serializers.ListField(child=serializers.CharField(), required=False)
    examples_unacceptable = serializers.ListField(child=serializers.CharField(), required=False)


class CategoryUpdateSerializer(serializers.Serializer[Any]):
    """Every field optional. ``parent`` moves, ``order`` reorders, ``active`` (de)activates."""

    parent = serializers.CharField(  # type: ignore[assignment]
        allow_null=True, required=False, help_text="Move under this path; null: top level"
    )
    order = serializers.IntegerField(
        min_value=0, required=False, help_text="Position among siblings"
    )
    active = serializers.BooleanField(required=False)
    slug = serializers.CharField(max_length=200, required=False)
    name = serializers.CharField(max_length=400, required=False)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    guidance = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    examples_acceptable = serializers.ListField(child=serializers.CharField(), required=False)
    examples_unacceptable = serializers.ListField(child=serializers.CharField(), required=False)


class WorkingPolicySerializer(serializers.ModelSerializer[WorkingPolicy]):
    severity_to_safety = serializers.DictField(child=serializers.FloatField())
    levels = serializers.DictField(child=serializers.DictField(child=serializers.CharField()))

    class Meta:
        model = WorkingPolicy
        fields = ("rubric", "severity_to_safety", "levels", "updated_at")
        read_only_fields = fields


class WorkingPolicyUpdateSerializer(serializers.Serializer[Any]):
    rubric = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    severity_to_safety = serializers.JSONField(
        required=False, help_text="{none: 1.0, negligible: …, low: …, moderate: …, high: …}"
    )
    levels = serializers.JSONField(required=False, help_text="{kind: {key: text}}")


class VersionSerializer(serializers.ModelSerializer[PolicyVersion]):
    published_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    severity_to_safety = serializers.SerializerMethodField()
    leaf_paths = serializers.SerializerMethodField()

    class Meta:
        model = PolicyVersion
        fields: tuple[str, ...] = (
            "number",
            "published_at",
            "published_by",
            "notes",
            "severity_to_safety",
            "leaf_paths",
        )
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(serializers.DictField(child=serializers.FloatField()))
    def get_severity_to_safety(self, version: PolicyVersion) -> dict[str, float]:
        return version.severity_to_safety

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_leaf_paths(self, version: PolicyVersion) -> list[str]:
        return version.leaf_paths()


class VersionDetailSerializer(VersionSerializer):
    snapshot = serializers.JSONField(read_only=True)

    class Meta(VersionSerializer.Meta):
        fields = (*VersionSerializer.Meta.fields, "snapshot")
        read_only_fields = fields


class PublishSerializer(serializers.Serializer[Any]):
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class ImportUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=["json", "yaml"], required=False)


class ImportResultSerializer(serializers.Serializer[Any]):
    categories = serializers.IntegerField()
    diff = serializers.JSONField()


class PolicyChangeSerializer(serializers.ModelSerializer[PolicyChange]):
    user: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = PolicyChange
        fields = ("id", "category_uid", "path", "action", "changes", "user", "created_at")
        read_only_fields = fields
