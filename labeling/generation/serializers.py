"""API shapes of model endpoints and generation runs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import GenerationRun, ModelEndpoint
from .key_env import key_env_problem


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

    def validate_api_key_env(self, value: str) -> str:
        name = value.strip()
        problem = key_env_problem(name)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return name


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
