"""DRF shapes of the quality API: query and input of agreement, review, gold and corrections.

Component names in the OpenAPI schema drop the ``Serializer`` suffix (``ReviewInput``, ...).
"""

from __future__ import annotations

from rest_framework import serializers

from labeling.models import Review
from policy.rubric import Intent

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
