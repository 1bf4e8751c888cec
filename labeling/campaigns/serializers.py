"""API shapes of campaigns."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import Campaign, Grader


class CampaignSerializer(serializers.ModelSerializer):
    policy_version = serializers.IntegerField(source="policy_version.number", read_only=True)
    prompt_count = serializers.IntegerField(read_only=True)
    candidate_count = serializers.IntegerField(read_only=True)
    pair_count = serializers.IntegerField(read_only=True)
    judgment_count = serializers.IntegerField(read_only=True)
    routing_grader: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )

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
            "show_gold_score",
            "prompt_count",
            "candidate_count",
            "pair_count",
            "judgment_count",
            "routing",
            "routing_grader",
            "human_budget",
            "accept_confidence",
            "accept_consistency",
            "spot_check_share",
            "created_at",
        )
        read_only_fields = ("id", "status", "created_at")


class RoutingSettingsSerializer(serializers.Serializer):
    """The routing settings, every one optional (a PATCH changes the ones it names)."""

    routing = serializers.ChoiceField(choices=Campaign.Routing.choices, required=False)
    routing_grader: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", queryset=Grader.objects.all(), allow_null=True, required=False
    )
    human_budget = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    accept_confidence = serializers.FloatField(
        min_value=0, max_value=1, allow_null=True, required=False
    )
    accept_consistency = serializers.FloatField(min_value=0, max_value=1, required=False)
    spot_check_share = serializers.FloatField(min_value=0, max_value=1, required=False)


class CampaignUpdateSerializer(RoutingSettingsSerializer):
    name = serializers.CharField(max_length=200, required=False)
    instructions = serializers.CharField(required=False, allow_blank=True)
    judgments_per_pair = serializers.IntegerField(min_value=1, max_value=16, required=False)
    show_gold_score = serializers.BooleanField(required=False)


class RoutingSummarySerializer(serializers.Serializer):
    routing = serializers.CharField()
    grader = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    routed_at = serializers.DateTimeField(allow_null=True)
    human_budget = serializers.IntegerField(allow_null=True)
    human_judgments = serializers.IntegerField()
    live_leases = serializers.IntegerField()
    budget_used = serializers.IntegerField()
    budget_left = serializers.IntegerField(allow_null=True)
    accepted = serializers.IntegerField()
    spot_checked = serializers.IntegerField()
    spot_checks_finished = serializers.IntegerField()
    spot_checks_agreed = serializers.IntegerField()
    spot_check_agreement = serializers.FloatField(allow_null=True)


class CampaignCreateSerializer(RoutingSettingsSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80)
    policy_version = serializers.IntegerField(required=False, min_value=1)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    judgments_per_pair = serializers.IntegerField(min_value=1, max_value=16, default=3)
    show_gold_score = serializers.BooleanField(
        default=False, help_text="annotators see their own gold score on the pair page"
    )
    open = serializers.BooleanField(default=False)


class CampaignStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices)
