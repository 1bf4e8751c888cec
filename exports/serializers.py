"""DRF serializers of exports: the request shape of a new export and the job's state."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from policy.rubric import PREFERENCE_MAX, Intent

from .models import Export, LearnabilityEstimate
from .spec import (
    ARCHIVE_FORMATS,
    FORMATS,
    LABEL_AGGREGATIONS,
    LABEL_SOURCE_CHOICES,
    LABEL_SOURCES,
    PREFERENCE_SOURCES,
)


class SplitRatiosSerializer(serializers.Serializer):
    train = serializers.FloatField(min_value=0, max_value=1)
    validation = serializers.FloatField(min_value=0, max_value=1)
    test = serializers.FloatField(min_value=0, max_value=1)


class ExportRequestSerializer(serializers.Serializer):
    """Selection and settings of a new export (also what the preview takes)."""

    format = serializers.ChoiceField(choices=FORMATS)
    campaigns = serializers.ListField(
        child=serializers.SlugField(max_length=80), min_length=1, max_length=100
    )
    categories = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=200
    )
    intents = serializers.ListField(
        child=serializers.ChoiceField(choices=Intent.values), required=False
    )
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)
    policy_version = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    min_judgments = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    min_agreement = serializers.FloatField(required=False, min_value=0, max_value=1)
    preference_source = serializers.ChoiceField(choices=PREFERENCE_SOURCES, required=False)
    min_margin = serializers.FloatField(required=False, min_value=0, max_value=PREFERENCE_MAX)
    sft_threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    kto_threshold = serializers.FloatField(required=False, min_value=0, max_value=1)
    split_ratios = SplitRatiosSerializer(required=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    label_sources = serializers.ListField(
        child=serializers.ChoiceField(choices=LABEL_SOURCES), required=False, min_length=1
    )
    pseudonymise_annotators = serializers.BooleanField(required=False, default=True)
    archive_format = serializers.ChoiceField(choices=ARCHIVE_FORMATS, required=False)
    label_source = serializers.ChoiceField(choices=LABEL_SOURCE_CHOICES, required=False)
    labels = serializers.ChoiceField(choices=LABEL_AGGREGATIONS, required=False)
    grader = serializers.CharField(required=False, allow_null=True, max_length=80)
    grader_version = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    min_grader_confidence = serializers.FloatField(required=False, min_value=0, max_value=1)

    def spec_data(self) -> dict[str, Any]:
        """Validated data as the spec parser takes it (dates as ISO text)."""
        data = dict(self.validated_data)
        for key in ("date_from", "date_to"):
            if data.get(key) is not None:
                data[key] = data[key].isoformat()
        if "split_ratios" in data:
            data["split_ratios"] = dict(data["split_ratios"])
        return data


class ExportSerializer(serializers.ModelSerializer):
    """An export job: its frozen settings, status, progress, manifest and download link."""

    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    percent = serializers.IntegerField(read_only=True)
    download_url = serializers.SerializerMethodField()
    policy_version: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="number", read_only=True
    )

    class Meta:
        model = Export
        fields = (
            "id",
            "format",
            "archive_format",
            "status",
            "percent",
            "pairs_total",
            "pairs_done",
            "rows_written",
            "spec",
            "policy_version",
            "manifest",
            "archive_bytes",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "download_url",
            "learnability_status",
            "learnability",
            "learnability_error",
        )
        read_only_fields = fields

    def get_download_url(self, export: Export) -> str | None:
        if export.status != Export.Status.COMPLETED:
            return None
        return reverse("exports-api-download", args=[export.id])


class ExportPreviewSerializer(serializers.Serializer):
    format = serializers.CharField()
    pairs_considered = serializers.IntegerField()
    pairs_kept = serializers.IntegerField()
    rows = serializers.IntegerField()
    rows_by_split = serializers.DictField(child=serializers.IntegerField())
    left_out = serializers.DictField(child=serializers.IntegerField())
    other = serializers.DictField(child=serializers.IntegerField())
    policy_version = serializers.IntegerField(allow_null=True)
    label_source = serializers.CharField()
    rows_by_label_source = serializers.DictField(child=serializers.IntegerField())
    graders = serializers.ListField(child=serializers.DictField())


class LearnabilityEstimateSerializer(serializers.ModelSerializer):
    """A learnability estimate of a selection: its status, then its report."""

    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = LearnabilityEstimate
        fields = (
            "id",
            "status",
            "spec",
            "report",
            "error",
            "created_by",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields
