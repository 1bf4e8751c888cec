"""API shapes of campaigns."""

from __future__ import annotations

from rest_framework import serializers

from ..models import Campaign


class CampaignSerializer(serializers.ModelSerializer):
    policy_version = serializers.IntegerField(source="policy_version.number", read_only=True)
    prompt_count = serializers.IntegerField(read_only=True)
    candidate_count = serializers.IntegerField(read_only=True)
    pair_count = serializers.IntegerField(read_only=True)
    judgment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Campaign
        fields = (
            "id",
            "name",
            "slug",
            "policy_version",
            "instructions",
            "judgments_per_pair",
            "status",
            "pair_strategy",
            "max_pairs_per_prompt",
            "open_to_all_annotators",
            "prompt_count",
            "candidate_count",
            "pair_count",
            "judgment_count",
            "created_at",
        )
        read_only_fields = ("id", "status", "created_at")


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80)
    policy_version = serializers.IntegerField(required=False, min_value=1)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    judgments_per_pair = serializers.IntegerField(min_value=1, max_value=16, default=3)
    open = serializers.BooleanField(default=False)


class CampaignStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices)
