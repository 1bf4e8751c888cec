"""API shapes of graders, their versions, previews and grading runs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import Grader, GraderVersion, GradingRun
from ..models.grading import GRADER_SAMPLES_MAX
from .services import MAX_TOKENS_MAX, SEED_MAX, SEED_MIN
from .templates import CANDIDATE, PAIR, template_problems

# Database bounds: a larger number would be a database error, not a 400.
ID_MAX = 2**63 - 1
NUMBER_MAX = 2**31 - 1


class GraderVersionSerializer(serializers.ModelSerializer):
    endpoint: Any = serializers.SlugRelatedField(slug_field="name", read_only=True)
    policy_version = serializers.IntegerField(source="policy_version.number", read_only=True)
    regraded_from = serializers.IntegerField(
        source="regraded_from.number",
        read_only=True,
        allow_null=True,
        help_text="a re-grade: the version it equals in all but the policy version",
    )
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)
    grade_count = serializers.SerializerMethodField()

    class Meta:
        model = GraderVersion
        fields = (
            "number",
            "endpoint",
            "model",
            "temperature",
            "samples",
            "max_tokens",
            "seed",
            "candidate_template",
            "pair_template",
            "policy_version",
            "regraded_from",
            "grade_count",
            "created_by",
            "created_at",
        )
        read_only_fields = fields

    def get_grade_count(self, version: GraderVersion) -> int:
        count = getattr(version, "grade_count", None)
        return int(count) if count is not None else version.grades.count()


class GraderSerializer(serializers.ModelSerializer):
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)
    current_version = serializers.SerializerMethodField()

    class Meta:
        model = Grader
        fields: tuple[str, ...] = (
            "name",
            "description",
            "created_by",
            "created_at",
            "current_version",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_current_version(self, grader: Grader) -> dict[str, Any]:
        version = self.context.get("current_version")
        if version is None:
            # Prefetched newest first by grader_list_with_versions, else one query.
            version = max(grader.versions.all(), key=lambda each: each.number)
        return dict(GraderVersionSerializer(version).data)


class _VersionSettingsSerializer(serializers.Serializer):
    endpoint = serializers.CharField(help_text="the endpoint's name")
    model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    policy_version = serializers.IntegerField(min_value=1, max_value=NUMBER_MAX, required=False)
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False)
    samples = serializers.IntegerField(min_value=1, max_value=GRADER_SAMPLES_MAX, required=False)
    max_tokens = serializers.IntegerField(min_value=1, max_value=MAX_TOKENS_MAX, required=False)
    seed = serializers.IntegerField(min_value=SEED_MIN, max_value=SEED_MAX, required=False)
    candidate_template = serializers.CharField(required=False, trim_whitespace=False)
    pair_template = serializers.CharField(required=False, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True)

    def validate_candidate_template(self, value: str) -> str:
        return _checked(value, CANDIDATE)

    def validate_pair_template(self, value: str) -> str:
        return _checked(value, PAIR)


def _checked(text: str, kind: str) -> str:
    problems = template_problems(text, kind)
    if problems:
        raise serializers.ValidationError(problems)
    return text


class GraderCreateSerializer(_VersionSettingsSerializer):
    name = serializers.SlugField(max_length=80)


class GraderUpdateSerializer(_VersionSettingsSerializer):
    endpoint = serializers.CharField(required=False, help_text="the endpoint's name")


class GraderUpdateResultSerializer(GraderSerializer):
    is_new_version = serializers.SerializerMethodField()

    class Meta(GraderSerializer.Meta):
        fields = (*GraderSerializer.Meta.fields, "is_new_version")
        read_only_fields = fields

    def get_is_new_version(self, grader: Grader) -> bool:
        return bool(self.context.get("is_new_version"))


class PreviewRequestSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)
    pair = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)
    version = serializers.IntegerField(
        min_value=1,
        max_value=NUMBER_MAX,
        required=False,
        help_text="the version number; default the newest",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("candidate" in attrs) == ("pair" in attrs):
            raise serializers.ValidationError(
                {"candidate": ["Give exactly one of candidate and pair."]}
            )
        return attrs


class SamplePreviewSerializer(serializers.Serializer):
    raw = serializers.CharField()
    values = serializers.DictField(allow_null=True)
    error = serializers.DictField(allow_null=True, help_text="{field: [reason]}")


class OrderPreviewSerializer(serializers.Serializer):
    order = serializers.CharField(help_text='"" for a candidate; "ab" or "ba" for a pair')
    prompt = serializers.CharField()
    samples = SamplePreviewSerializer(many=True)
    grade = serializers.DictField(
        allow_null=True, help_text="values, field_confidence, confidence, rationale, samples"
    )
    call_error = serializers.CharField(allow_blank=True)
    notes = serializers.ListField(child=serializers.CharField())
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)


class PreviewSerializer(serializers.Serializer):
    kind = serializers.CharField()
    item_id = serializers.IntegerField()
    version = serializers.IntegerField()
    orders = OrderPreviewSerializer(many=True)


class GradingRunCreateSerializer(serializers.Serializer):
    """A grading run to start: the grader's current version over a campaign's items."""

    campaign = serializers.SlugField(max_length=80)
    grader = serializers.SlugField(max_length=80, help_text="the grader's name")
    candidates = serializers.BooleanField(default=True, help_text="grade each candidate")
    pairs = serializers.BooleanField(default=True, help_text="grade each pair, in both orders")
    limit = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=NUMBER_MAX,
        help_text="only the campaign's first N candidates and N pairs",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs["candidates"] or attrs["pairs"]):
            raise serializers.ValidationError({"candidates": ["Grade candidates, pairs, or both."]})
        return attrs


class GradingRunSerializer(serializers.ModelSerializer):
    campaign: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    grader = serializers.CharField(source="grader_version.grader.name", read_only=True)
    grader_version = serializers.IntegerField(source="grader_version.number", read_only=True)
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = GradingRun
        fields: tuple[str, ...] = (
            "id",
            "campaign",
            "grader",
            "grader_version",
            "candidates",
            "pairs",
            "limit",
            "status",
            "planned",
            "graded",
            "failed",
            "prompt_tokens",
            "completion_tokens",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


class GradingRunProgressSerializer(serializers.Serializer):
    finished = serializers.IntegerField()
    remaining = serializers.IntegerField()
    percent = serializers.FloatField()
    elapsed_seconds = serializers.FloatField()
    rate_per_second = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)
    by_status = serializers.DictField(child=serializers.IntegerField())
    errors_by_kind = serializers.DictField(
        child=serializers.IntegerField(), help_text="error kind -> rows failed or retrying"
    )


class GradingRunDetailSerializer(GradingRunSerializer):
    progress = GradingRunProgressSerializer(read_only=True)

    class Meta(GradingRunSerializer.Meta):
        fields = (*GradingRunSerializer.Meta.fields, "progress")
        read_only_fields = fields


class RegradeRequestSerializer(serializers.Serializer):
    """A re-grade: what the grader's current version graded, under another policy version."""

    policy_version = serializers.IntegerField(
        min_value=1, max_value=NUMBER_MAX, help_text="the published policy version to apply"
    )
    campaign = serializers.SlugField(
        max_length=80, required=False, help_text="only this campaign; default every one graded"
    )
    grade_missing_categories = serializers.BooleanField(
        default=False,
        help_text="re-grade the rest when the policy version lacks some items' categories "
        "(those items fail, each naming its category); refused otherwise",
    )


class ImpactScopeSerializer(serializers.Serializer):
    campaign = serializers.SlugField(
        max_length=80, required=False, help_text="only this campaign; default every one"
    )
