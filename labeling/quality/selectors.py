"""Reads shared by the quality pages and API: which campaigns a quality user may look at."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Role, has_role
from labeling.models import Campaign

QUALITY_ROLES = (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN)
REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)
GOLD_ROLES = (Role.RESEARCHER, Role.ADMIN)


def campaigns_for_quality(user: Any) -> QuerySet[Campaign]:
    """Campaigns whose quality figures ``user`` may see: every one for the quality roles."""
    if not has_role(user, *QUALITY_ROLES):
        return Campaign.objects.none()
    return Campaign.objects.select_related("policy_version").order_by("-created_at", "-id")


def campaign_for_quality(user: Any, slug: str | None) -> Campaign | None:
    """The campaign named by ``slug`` (404 if unknown), or the newest one when none is named."""
    campaigns = campaigns_for_quality(user)
    if not slug:
        return campaigns.first()
    campaign = campaigns.filter(slug=slug).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign
