"""DRF shapes of the annotation API. Input is checked by ``validation.judgment_clean`` (the same
function the form uses); these serializers document the shapes in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.models import Judgment
from policy.rubric import (
    FLAG_NOTE_MAX_LENGTH,
    HELPFULNESS_MAX,
    HELPFULNESS_MIN,
    PREFERENCE_MAX,
    PREFERENCE_MIN,
    RATIONALE_MAX_LENGTH,
    SIDE_FIELDS,
    SKIP_REASON_MAX_LENGTH,
    Flag,
    ResponseMode,
    Severity,
    side_field,
)


class MessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ShownCandidateSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(help_text="candidate id")
    text = serializers.CharField(help_text="raw model output: untrusted, render it inert")


class ClaimSerializer(serializers.Serializer):
    """One pair to judge, in the order this annotator sees it."""

    assignment = serializers.IntegerField(help_text="post the judgment to this assignment")
    pair = serializers.IntegerField()
    campaign = serializers.CharField(help_text="campaign slug")
    category = serializers.CharField(help_text="policy category path of the prompt")
    intent = serializers.CharField()
    prompt = MessageSerializer(many=True, help_text="the whole conversation")
    left = ShownCandidateSerializer()
    right = ShownCandidateSerializer()
    expires_at = serializers.DateTimeField(
        help_text="the lease; after it the slot may go to others"
    )


class SideInputSerializer(serializers.Serializer):
    response_mode = serializers.ChoiceField(choices=ResponseMode.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    helpfulness = serializers.IntegerField(min_value=HELPFULNESS_MIN, max_value=HELPFULNESS_MAX)


class JudgmentInputSerializer(serializers.Serializer):
    """A judgment in the order shown: ``preference`` negative means the left side is better."""

    left = SideInputSerializer()
    right = SideInputSerializer()
    preference = serializers.IntegerField(min_value=PREFERENCE_MIN, max_value=PREFERENCE_MAX)
    rationale = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=RATIONALE_MAX_LENGTH,
        help_text="required when preference is ±2 or disagrees with the derived rewards",
    )
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=Flag.choices), required=False
    )
    flag_note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=FLAG_NOTE_MAX_LENGTH,
        help_text="required with flag other",
    )
    time_on_task_ms = serializers.IntegerField(required=False, min_value=0)


class SkipInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=SKIP_REASON_MAX_LENGTH, help_text="why you pass on this pair"
    )
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=Flag.choices), required=False
    )


class SkipSerializer(serializers.Serializer):
    pair = serializers.IntegerField()
    reason = serializers.CharField()
    flags = serializers.ListField(child=serializers.CharField())


class SideOutputSerializer(serializers.Serializer):
    candidate = serializers.IntegerField()
    response_mode = serializers.CharField()
    severity = serializers.CharField()
    helpfulness = serializers.IntegerField()


class ShownOrderSerializer(serializers.Serializer):
    left_is_a = serializers.BooleanField()
    preference = serializers.IntegerField(help_text="the preference as the annotator saw it")


class JudgmentSerializer(serializers.ModelSerializer):
    """A judgment in canonical order (A, B); ``shown`` says how the annotator saw it."""

    campaign = serializers.SerializerMethodField()
    policy_version = serializers.IntegerField(source="policy_version.number")
    a = serializers.SerializerMethodField()
    b = serializers.SerializerMethodField()
    shown = serializers.SerializerMethodField()

    class Meta:
        model = Judgment
        fields = (
            "id", "pair", "assignment", "campaign", "policy_version", "a", "b", "preference",
            "rationale", "flags", "flag_note", "shown", "time_on_task_ms", "created_at",
            "updated_at",
        )  # fmt: skip

    def get_campaign(self, judgment: Judgment) -> str:
        return judgment.pair.prompt.campaign.slug

    def _side(self, judgment: Judgment, letter: str) -> dict[str, Any]:
        return {
            "candidate": getattr(judgment.pair, f"candidate_{letter}_id"),
            **{name: getattr(judgment, side_field(letter, name)) for name in SIDE_FIELDS},
        }

    @extend_schema_field(SideOutputSerializer)
    def get_a(self, judgment: Judgment) -> dict[str, Any]:
        return self._side(judgment, "a")

    @extend_schema_field(SideOutputSerializer)
    def get_b(self, judgment: Judgment) -> dict[str, Any]:
        return self._side(judgment, "b")

    @extend_schema_field(ShownOrderSerializer)
    def get_shown(self, judgment: Judgment) -> dict[str, Any]:
        return {
            "left_is_a": judgment.left_is_a,
            "preference": judgment.preference if judgment.left_is_a else -judgment.preference,
        }
