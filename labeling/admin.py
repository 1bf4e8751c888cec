"""Django admin for the labeling area (never shows an API key: only its variable's name)."""

from django.contrib import admin

from .models import (
    Campaign,
    Candidate,
    GenerationRun,
    GenerationTask,
    ImportJob,
    ModelEndpoint,
    Pair,
    Prompt,
)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "policy_version", "judgments_per_pair")
    search_fields = ("name", "slug")


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "external_id", "category_path", "intent")
    list_filter = ("intent",)
    raw_id_fields = ("campaign",)


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "base_url", "model", "api_key_env", "concurrency_limit")


@admin.register(GenerationRun)
class GenerationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "status", "planned", "succeeded", "failed")
    list_filter = ("status",)


@admin.register(GenerationTask)
class GenerationTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "status", "attempts", "error_kind")
    list_filter = ("status", "error_kind")
    raw_id_fields = ("run", "prompt")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "kind", "status", "lines_read", "imported", "created_at")
    list_filter = ("status", "kind")
    readonly_fields = [field.name for field in ImportJob._meta.fields]


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt", "source", "style", "model")
    raw_id_fields = ("prompt", "run")


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt", "candidate_a", "candidate_b", "is_gold")
    raw_id_fields = ("prompt", "candidate_a", "candidate_b")
