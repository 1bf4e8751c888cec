"""Reads shared by the quality pages and API: which campaigns a quality user may look at."""

from __future__ import annotations

from typing import Any

from django.db.models import DateTimeField, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404

from accounts.roles import Role, has_role
from labeling.database import is_postgresql
from labeling.models import Campaign, DashboardAnnotatorHour, Judgment, Review

QUALITY_ROLES = (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN)
REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)
GOLD_ROLES = (Role.RESEARCHER, Role.ADMIN)


def _last_judged() -> Subquery:
    """When the campaign (``OuterRef("pk")``) was last judged.

    On PostgreSQL from the per-hour judgment counts the dashboards keep (one index probe,
    to the hour); elsewhere (the demo's SQLite, no such counts) from the judgments.
    """
    if is_postgresql():
        rows = DashboardAnnotatorHour.objects.filter(campaign=OuterRef("pk")).order_by("-hour")
        return Subquery(rows.values("hour")[:1], output_field=DateTimeField())
    judged = Judgment.objects.filter(pair__prompt__campaign=OuterRef("pk")).order_by("-created_at")
    return Subquery(judged.values("created_at")[:1], output_field=DateTimeField())


def _last_reviewed() -> Subquery:
    reviews = Review.objects.filter(pair__prompt__campaign=OuterRef("pk")).order_by("-updated_at")
    return Subquery(reviews.values("updated_at")[:1], output_field=DateTimeField())


def campaigns_for_quality(user: Any) -> QuerySet[Campaign]:
    """Campaigns whose quality figures ``user`` may see (every one for the quality roles),
    the one with the most recent activity first: its last judgment or review, or its
    creation when nothing happened in it yet."""
    if not has_role(user, *QUALITY_ROLES):
        return Campaign.objects.none()
    return (
        Campaign.objects.select_related("policy_version")
        .annotate(
            last_activity=Greatest(
                Coalesce(_last_judged(), F("created_at")),
                Coalesce(_last_reviewed(), F("created_at")),
            )
        )
        .order_by("-last_activity", "-id")
    )


def campaign_for_quality(user: Any, slug: str | None) -> Campaign | None:
    """The campaign named by ``slug`` (404 if unknown), or when none is named the one with the
    most recent activity."""
    campaigns = campaigns_for_quality(user)
    if not slug:
        return campaigns.first()
    campaign = campaigns.filter(slug=slug).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign
