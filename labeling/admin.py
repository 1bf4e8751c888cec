"""Django admin for the labeling area (never shows an API key: only its variable's name)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import (
    Assignment,
    Campaign,
    Candidate,
    GenerationRun,
    GenerationTask,
    Grader,
    GraderVersion,
    GradingRun,
    ImportJob,
    Judgment,
    ModelEndpoint,
    Pair,
    Prompt,
    PromptChange,
    Review,
    ReviewRequest,
    Skip,
)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "status", "policy_version", "judgments_per_pair")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    filter_horizontal = ("members",)


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "external_id", "category_path", "intent")
    list_filter = ("intent", "campaign")
    search_fields = ("external_id", "category_path")
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
    list_filter = ("source", "style")
    search_fields = ("model", "source")
    raw_id_fields = ("prompt", "run")


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt", "candidate_a", "candidate_b", "is_gold")
    list_filter = ("is_gold",)
    raw_id_fields = ("prompt", "candidate_a", "candidate_b")


# Judgments, reviews and grades are made through the app's pages and API, which keep their
# rules (leases, revisions, pre-aggregates); here they are for looking things up.
class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Judgment)
class JudgmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "pair",
        "annotator",
        "preference",
        "a_severity",
        "b_severity",
        "created_at",
    )
    list_filter = ("a_severity", "b_severity", "preference", "created_at")
    search_fields = ("annotator__username", "rationale")
    raw_id_fields = ("pair", "annotator", "assignment")
    list_select_related = ("annotator",)


@admin.register(Skip)
class SkipAdmin(ReadOnlyAdmin):
    list_display = ("id", "pair", "annotator", "reason", "created_at")
    search_fields = ("annotator__username", "reason")
    list_select_related = ("annotator",)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "pair", "campaign", "annotator", "slot", "expires_at", "completed_at")
    list_filter = ("campaign",)
    search_fields = ("annotator__username",)
    list_select_related = ("campaign", "annotator")


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("id", "pair", "reviewer", "resolution", "updated_at")
    list_filter = ("resolution", "updated_at")
    search_fields = ("reviewer__username", "notes")
    list_select_related = ("reviewer",)


@admin.register(ReviewRequest)
class ReviewRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "pair", "source", "reason", "requested_by", "created_at")
    list_filter = ("source",)
    search_fields = ("reason", "key")


@admin.register(PromptChange)
class PromptChangeAdmin(ReadOnlyAdmin):
    list_display = ("id", "prompt", "field", "old_value", "new_value", "changed_by", "changed_at")
    list_filter = ("field",)
    search_fields = ("changed_by__username", "reason")


@admin.register(Grader)
class GraderAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at")
    search_fields = ("name", "description")


@admin.register(GraderVersion)
class GraderVersionAdmin(ReadOnlyAdmin):
    list_display = ("id", "grader", "number", "model", "policy_version", "created_at")
    list_filter = ("grader",)


@admin.register(GradingRun)
class GradingRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "grader_version", "status", "planned", "graded", "failed")
    list_filter = ("status",)
