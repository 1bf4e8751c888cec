"""API input of imports (prompts and candidates)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from ..models import ImportJob
from . import candidates as candidate_imports
from . import prompts as prompt_imports
from .common import ImportFailed


class _MappingSerializer(serializers.Serializer):
    mapping = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="XSTest only: a JSON or YAML mapping laid over the built-in one",
    )

    def validate_mapping(self, value: str) -> dict[str, Any] | None:
        if not value.strip():
            return None
        try:
            return prompt_imports.mapping_from_text(value)
        except ImportFailed as error:
            raise serializers.ValidationError([str(p) for p in error.problems]) from error


class PromptImportSerializer(_MappingSerializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(
        choices=prompt_imports.FORMATS,
        required=False,
        help_text="detected from the file's name and content when not given",
    )
    default_category = serializers.CharField(required=False)
    default_intent = serializers.CharField(required=False)


class CandidateImportSerializer(_MappingSerializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(
        choices=candidate_imports.FORMATS,
        required=False,
        help_text="detected from the file's name and content when not given",
    )
    source_name = serializers.CharField(required=False, default="")
    label_mapping = serializers.FileField(
        required=False,
        help_text="JSON or YAML: prior labels' own values mapped onto the rubric's",
    )
    default_category = serializers.CharField(required=False)
    default_intent = serializers.CharField(required=False)


class ImportJobSerializer(serializers.ModelSerializer):
    """An import job as the API answers it: while it runs, its counts so far; once failed, its
    problems in the shape of a failed import's answer (``problems``, ``problem_count``,
    ``problem_groups``, ``other_problems``, ``problems_csv``)."""

    url = serializers.SerializerMethodField()
    campaign: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    problems_csv = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = (
            "id",
            "url",
            "campaign",
            "kind",
            "filename",
            "upload_bytes",
            "status",
            "lines_read",
            "imported",
            "problem_count",
            "report",
            "problems",
            "problem_groups",
            "other_problems",
            "problems_csv",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, job: ImportJob) -> str:
        return self._absolute(reverse("api-import-job", args=[job.id]))

    def get_problems_csv(self, job: ImportJob) -> str | None:
        """The full problem list, for the user who uploaded the file (kept for a day)."""
        request = self.context.get("request")
        if not job.problems_token or request is None or request.user.pk != job.created_by_id:
            return None
        return self._absolute(
            reverse("api-import-problems", args=[job.campaign.slug, job.problems_token])
        )
