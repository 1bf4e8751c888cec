"""DRF serializers for campaigns, imports, endpoints and runs (never an API key)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .imports import candidates as candidate_imports
from .imports import prompts as prompt_imports
from .models import Campaign, GenerationRun, ModelEndpoint


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


class PromptImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=prompt_imports.FORMATS, required=False)
    default_category = serializers.CharField(required=False)
    default_intent = serializers.CharField(required=False)


class CandidateImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=candidate_imports.FORMATS)
    source_name = serializers.CharField(required=False, default="")
    default_category = serializers.CharField(required=False)
    default_intent = serializers.CharField(required=False)


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelEndpoint
        fields = (
            "id",
            "name",
            "base_url",
            "model",
            "api_key_env",
            "timeout_seconds",
            "concurrency_limit",
            "created_at",
        )
        read_only_fields = ("id", "created_at")


class StyleSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    system_prompt = serializers.CharField(required=False, allow_blank=True, max_length=20_000)


class RunCreateSerializer(serializers.Serializer):
    campaign = serializers.SlugField()
    endpoints = serializers.ListField(child=serializers.CharField(), min_length=1)
    styles = serializers.ListField(child=StyleSerializer(), min_length=1)
    samples_per_prompt = serializers.IntegerField(min_value=1, max_value=16, default=1)
    temperature = serializers.FloatField(min_value=0, max_value=2, default=0.7)
    max_tokens = serializers.IntegerField(min_value=1, max_value=32_768, default=512)
    seed = serializers.IntegerField(default=0)
    prompt_limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class RunSerializer(serializers.ModelSerializer):
    campaign: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    endpoints: Any = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = GenerationRun
        fields = (
            "id",
            "campaign",
            "endpoints",
            "styles",
            "samples_per_prompt",
            "temperature",
            "max_tokens",
            "seed",
            "prompt_limit",
            "status",
            "planned",
            "succeeded",
            "failed",
            "prompt_tokens",
            "completion_tokens",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields
