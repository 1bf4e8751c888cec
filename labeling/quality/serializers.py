"""DRF shapes of the quality API: query and input of agreement, review, gold and corrections;
consensus runs.

Component names in the OpenAPI schema drop the ``Serializer`` suffix (``ReviewInput``, ...).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from labeling.models import ConsensusRun, Review
from policy.rubric import Intent

from .consensus import CONSENSUS_FIELDS

MAX_API_REPS = 2000


class AgreementQuerySerializer(serializers.Serializer):
    reps = serializers.IntegerField(min_value=0, max_value=MAX_API_REPS, default=200)
    seed = serializers.IntegerField(min_value=0, default=0)
    category = serializers.CharField(required=False, max_length=255)
    intent = serializers.ChoiceField(choices=Intent.choices, required=False)


class SideLabelsSerializer(serializers.Serializer):
    response_mode = serializers.CharField()
    severity = serializers.CharField()
    helpfulness = serializers.IntegerField()


class FinalLabelsSerializer(serializers.Serializer):
    a = SideLabelsSerializer()
    b = SideLabelsSerializer()
    preference = serializers.IntegerField()


class ReviewInputSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=Review.Resolution.choices)
    final_labels = FinalLabelsSerializer(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class GoldSideSerializer(serializers.Serializer):
    severity = serializers.CharField()
    helpfulness = serializers.IntegerField()


class GoldInputSerializer(serializers.Serializer):
    a = GoldSideSerializer()
    b = GoldSideSerializer()
    preference = serializers.IntegerField(help_text="-1 A better, 0 about equal, 1 B better")
    severity_tolerance = serializers.IntegerField(default=0)
    helpfulness_tolerance = serializers.IntegerField(default=0)


class CorrectionInputSerializer(serializers.Serializer):
    category_path = serializers.CharField(required=False, max_length=255)
    intent = serializers.ChoiceField(choices=Intent.choices, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ConsensusRunSerializer(serializers.ModelSerializer):
    """A consensus run as lists show it: who asked, its state and timing."""

    campaign: Any = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by: Any = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="who asked (null when computed by manage.py consensus)",
    )

    class Meta:
        model = ConsensusRun
        fields: tuple[str, ...] = (
            "id",
            "campaign",
            "status",
            "requested_by",
            "created_at",
            "computed_at",
            "compute_seconds",
            "error",
        )
        read_only_fields: tuple[str, ...] = fields


class ConsensusQualitySerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    low_quality_threshold = serializers.FloatField()
    low_quality_items = serializers.IntegerField(help_text="items whose quality is under it")


class ConsensusFieldSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=CONSENSUS_FIELDS)
    problem = serializers.CharField(
        allow_null=True, help_text="why nothing was modelled (nobody rated it, too few raters)"
    )
    items = serializers.IntegerField(help_text="items with at least two raters, modelled")
    single_rater_items = serializers.IntegerField(help_text="items left out: one rater")
    judgments = serializers.IntegerField(help_text="rater values modelled")
    agreement_with_majority = serializers.FloatField(allow_null=True)
    differs_from_majority = serializers.IntegerField()
    flagged = serializers.IntegerField(help_text="likely label errors found in this field")
    distribution = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="consensus value -> items (the preference as directions a, tie, b)",
    )
    quality = ConsensusQualitySerializer()


class ConsensusRaterSerializer(serializers.Serializer):
    rater = serializers.CharField(
        help_text="an annotator's username, imported labels (xstest:…, prior:…) or a grader "
        "version (grader:<name> v<n>)"
    )
    reliability = serializers.DictField(
        child=serializers.FloatField(), help_text="field -> estimated accuracy"
    )
    items = serializers.DictField(child=serializers.IntegerField(), help_text="field -> items")


class ConsensusReviewSerializer(serializers.Serializer):
    flagged_pairs = serializers.IntegerField(help_text="pairs holding a likely label error")
    sent = serializers.IntegerField(help_text="of them, the best ranked, sent to the review queue")
    over_cap = serializers.IntegerField(help_text="flagged pairs over the per-run cap, not sent")
    cap = serializers.IntegerField(help_text="the most flagged pairs one run sends")
    added = serializers.IntegerField(help_text="of those sent, newly added to the review queue")


class ConsensusRunDetailSerializer(ConsensusRunSerializer):
    """A run with its figures: empty ``results`` and ``raters`` until it is done."""

    results = ConsensusFieldSerializer(many=True, read_only=True)
    raters = ConsensusRaterSerializer(many=True, read_only=True)
    review = ConsensusReviewSerializer(read_only=True, allow_null=True)

    class Meta(ConsensusRunSerializer.Meta):
        fields = (*ConsensusRunSerializer.Meta.fields, "results", "raters", "review")
        read_only_fields = fields
