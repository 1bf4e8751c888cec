"""Writes for campaigns. Every function owns its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from policy.models import PolicyVersion

from ..models import Campaign
from ..routing.services import routing_schedule

# The settings that change which pairs annotators get: a change has the ranks recomputed.
ROUTING_FIELDS = (
    "routing",
    "routing_grader",
    "accept_confidence",
    "accept_consistency",
    "spot_check_share",
)
EDITABLE_FIELDS = (
    "name",
    "instructions",
    "judgments_per_pair",
    "open_to_all_annotators",
    "pair_strategy",
    "max_pairs_per_prompt",
    "lease_minutes",
    "daily_cap",
    "gold_rate",
    "gold_accuracy_threshold",
    "show_gold_score",
    *ROUTING_FIELDS,
    "human_budget",
)


def latest_policy_version() -> PolicyVersion:
    """The newest published policy version; a campaign cannot exist without one."""
    version = PolicyVersion.objects.order_by("-number").first()
    if version is None:
        raise ValidationError("No policy version is published yet: publish one first.")
    return version


@transaction.atomic
def campaign_create(
    *,
    name: str,
    slug: str = "",
    policy_version: PolicyVersion | None = None,
    instructions: str = "",
    judgments_per_pair: int = 3,
    open_now: bool = False,
    created_by: AbstractBaseUser | None = None,
    members: Iterable[Any] = (),
    **settings: Any,
) -> Campaign:
    """Create a campaign pinned to ``policy_version`` (default: the latest one)."""
    unknown = set(settings) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown campaign settings: {', '.join(sorted(unknown))}")
    campaign = Campaign(
        name=name.strip(),
        slug=slug or slugify(name)[:80],
        policy_version=policy_version or latest_policy_version(),
        instructions=instructions,
        judgments_per_pair=judgments_per_pair,
        status=Campaign.Status.OPEN if open_now else Campaign.Status.DRAFT,
        created_by=created_by if created_by and created_by.pk else None,  # type: ignore[misc]
        **settings,
    )
    campaign.full_clean()
    campaign.save()
    if members:
        campaign.members.set(list(members))
    if campaign.routing != Campaign.Routing.UNIFORM:
        routing_schedule(campaign_id=campaign.pk)
    return campaign


@transaction.atomic
def campaign_update(
    *, campaign: Campaign, members: Iterable[Any] | None = None, **changes: Any
) -> Campaign:
    """Change a campaign's editable settings (the pinned policy version only while draft)."""
    allowed = set(EDITABLE_FIELDS) | {"policy_version"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Unknown campaign settings: {', '.join(sorted(unknown))}")
    if (
        "policy_version" in changes
        and changes["policy_version"] != campaign.policy_version
        and campaign.status != Campaign.Status.DRAFT
    ):
        raise ValidationError("The policy version can only change while the campaign is a draft.")
    before = {field: getattr(campaign, field) for field in ROUTING_FIELDS}
    for field, value in changes.items():
        setattr(campaign, field, value)
    campaign.full_clean()
    # Only the changed columns: the routing recompute writes routed_at/routed_version on its own,
    # and a whole-row save from a stale instance would put old values back.
    if changes:
        campaign.save(update_fields=list(changes))
    if members is not None:
        campaign.members.set(list(members))
    if any(getattr(campaign, field) != value for field, value in before.items()):
        routing_schedule(campaign_id=campaign.pk)
    return campaign


_TRANSITIONS = {
    Campaign.Status.DRAFT: {Campaign.Status.OPEN},
    Campaign.Status.OPEN: {Campaign.Status.CLOSED},
    Campaign.Status.CLOSED: {Campaign.Status.OPEN},
}


@transaction.atomic
def campaign_set_status(*, campaign: Campaign, status: str) -> Campaign:
    """Open or close a campaign. A conditional UPDATE so two clicks cannot race."""
    current = Campaign.Status(campaign.status)
    target = Campaign.Status(status)
    if target == current:
        return campaign
    if target not in _TRANSITIONS[current]:
        raise ValidationError(f"A {current.label.lower()} campaign cannot become {target.label}.")
    changed = Campaign.objects.filter(pk=campaign.pk, status=current).update(status=target)
    if not changed:
        raise ValidationError("The campaign changed meanwhile; reload and try again.")
    campaign.status = target
    return campaign
