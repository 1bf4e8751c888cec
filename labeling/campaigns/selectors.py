"""Reads for campaigns: lists with counts at a glance (no N+1), permission-checked fetches."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from ..models import Campaign, Candidate, Judgment, Pair, Prompt


def _count_subquery(queryset: QuerySet[Any], campaign_field: str) -> Coalesce:
    """A correlated COUNT(*) per campaign: one query for the whole list."""
    counted = (
        queryset.filter(**{campaign_field: OuterRef("pk")})
        .order_by()
        .values(campaign_field)
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def campaign_list_with_counts() -> QuerySet[Campaign]:
    """Every campaign with its prompt, candidate, pair and judgment counts, in one query."""
    return Campaign.objects.select_related("policy_version").annotate(
        prompt_count=_count_subquery(Prompt.objects.all(), "campaign"),
        candidate_count=_count_subquery(Candidate.objects.all(), "prompt__campaign"),
        pair_count=_count_subquery(Pair.objects.all(), "prompt__campaign"),
        judgment_count=_count_subquery(Judgment.objects.all(), "pair__prompt__campaign"),
    )


def campaign_get(*, slug: str) -> Campaign:
    """One campaign with its counts, or 404."""
    return get_object_or_404(campaign_list_with_counts(), slug=slug)


def campaign_category_counts(*, campaign: Campaign) -> list[dict[str, Any]]:
    """Prompts per category and intent (for the campaign page)."""
    return list(
        Prompt.objects.filter(campaign=campaign)
        .order_by()
        .values("category_path", "intent")
        .annotate(total=Count("pk"))
        .order_by("category_path", "intent")
    )


def campaign_prompts(*, campaign: Campaign) -> QuerySet[Prompt]:
    """A campaign's prompts with their candidate counts."""
    return Prompt.objects.filter(campaign=campaign).annotate(
        candidate_count=Count("candidates", distinct=True)
    )
