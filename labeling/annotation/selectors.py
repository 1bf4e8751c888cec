"""Reads of the annotation workflow, each scoped to what the caller may see.

An annotator only ever reads their own assignments and judgments: every fetch here filters by
the caller, so another person's id answers 404 (no IDOR).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from config.roles import Role, has_role
from labeling.models import Assignment, Campaign, Judgment, Pair
from policy.models import PolicyVersion
from policy.selectors import category_guidance

from .rendering import render_untrusted


def may_annotate(user: User | AnonymousUser, campaign: Campaign) -> bool:
    """Reviewers and admins may work in any campaign; annotators in those open to them."""
    if has_role(user, Role.REVIEWER, Role.ADMIN):
        return True
    if not has_role(user, Role.ANNOTATOR):
        return False
    if campaign.open_to_all_annotators:
        return True
    return campaign.members.filter(pk=cast(User, user).pk).exists()


@lru_cache(maxsize=64)
def policy_version(pk: int) -> PolicyVersion:
    """A policy version by id, kept in process memory: a published version never changes
    (``PolicyVersion`` refuses updates and deletes), and its snapshot is large to fetch and
    parse on every request."""
    return PolicyVersion.objects.get(pk=pk)


_CAMPAIGN_BY_SLUG = f"SELECT * FROM {Campaign._meta.db_table} WHERE slug = %s"  # noqa: S608


def campaign_for_annotation(user: User | AnonymousUser, slug: str) -> Campaign:
    """The campaign ``slug`` if ``user`` may annotate in it (404 unknown, 403 not allowed),
    with its policy version."""
    # On every request of the round trip: a plain statement (building the ORM query would
    # cost as much as running it). The slug is unique.
    campaign = next(iter(Campaign.objects.raw(_CAMPAIGN_BY_SLUG, [slug])), None)
    if campaign is None:
        raise Http404("No such campaign.")
    campaign.policy_version = policy_version(campaign.policy_version_id)
    if not may_annotate(user, campaign):
        raise PermissionDenied("You are not an annotator of this campaign.")
    return campaign


def assignment_for_annotator(user: User, assignment_id: int) -> Assignment:
    """One of the caller's own assignments, with its campaign; 404 for anyone else's."""
    assignment = (
        Assignment.objects.select_related("campaign__policy_version")
        .filter(pk=assignment_id, annotator=user)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def campaigns_for_annotator(user: User) -> list[dict[str, Any]]:
    """Open campaigns the user may annotate, with their personal and overall progress."""
    campaigns = Campaign.objects.filter(status=Campaign.Status.OPEN).select_related(
        "policy_version"
    )
    if not has_role(user, Role.REVIEWER, Role.ADMIN):
        campaigns = campaigns.filter(Q(open_to_all_annotators=True) | Q(members=user)).distinct()
    mine = (
        Judgment.objects.filter(annotator=user, pair__prompt__campaign=OuterRef("pk"))
        .order_by()
        .values("pair__prompt__campaign")
        .annotate(n=Count("id"))
        .values("n")
    )
    pair_stats = (
        Pair.objects.filter(prompt__campaign=OuterRef("pk"))
        .order_by()
        .values("prompt__campaign")
        .annotate(n=Count("id"), judged=Sum("judgment_count"))
    )
    rows = campaigns.annotate(
        my_judgments=Coalesce(Subquery(mine), Value(0)),
        pair_count=Coalesce(Subquery(pair_stats.values("n")), Value(0)),
        judgments_done=Coalesce(Subquery(pair_stats.values("judged")), Value(0)),
    ).order_by("name")
    result = []
    for campaign in rows:
        wanted = campaign.pair_count * campaign.judgments_per_pair
        done = min(campaign.judgments_done, wanted)
        result.append(
            {
                "campaign": campaign,
                "my_judgments": campaign.my_judgments,
                "pair_count": campaign.pair_count,
                "judgments_wanted": wanted,
                "judgments_done": done,
                "percent": round(100 * done / wanted) if wanted else 0,
            }
        )
    return result


def judgments_for_annotator(user: User, *, campaign_slug: str | None = None) -> Any:
    """The caller's own judgments, newest first (never anyone else's)."""
    queryset: QuerySet[Judgment] = (
        Judgment.objects.filter(annotator=user)
        .select_related("pair__prompt__campaign", "policy_version")
        .order_by("-created_at", "-id")
    )
    if campaign_slug:
        if "\x00" in campaign_slug:  # no slug has one, and PostgreSQL rejects it in a query
            return queryset.none()
        queryset = queryset.filter(pair__prompt__campaign__slug=campaign_slug)
    return queryset


def judgment_for_annotator(user: User, judgment_id: int) -> Judgment:
    """One of the caller's own judgments; 404 for anyone else's."""
    judgment = (
        Judgment.objects.select_related(
            "pair__prompt__campaign__policy_version", "pair__candidate_a", "pair__candidate_b"
        )
        .filter(pk=judgment_id, annotator=user)
        .first()
    )
    if judgment is None:
        raise Http404("No such judgment.")
    return judgment


@dataclass(frozen=True)
class Side:
    """One candidate as shown: its id, raw text (API) and inert HTML (pages)."""

    candidate_id: int
    text: str
    html: str


def shown_sides(pair: Pair, *, left_is_a: bool, render: bool = True) -> tuple[Side, Side]:
    """(left, right) candidates in the order this annotator sees them."""
    candidates = (
        (pair.candidate_a, pair.candidate_b) if left_is_a else (pair.candidate_b, pair.candidate_a)
    )
    left, right = (
        Side(
            candidate_id=candidate.pk,
            text=candidate.text,
            html=render_untrusted(candidate.text) if render else "",
        )
        for candidate in candidates
    )
    return left, right


def prompt_messages(pair: Pair, *, render: bool = True) -> list[dict[str, str]]:
    """The whole conversation of the pair's prompt, each turn's content rendered inert."""
    messages = pair.prompt.messages if isinstance(pair.prompt.messages, list) else []
    result = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        result.append(
            {
                "role": str(message.get("role") or "user"),
                "content": text,
                "html": render_untrusted(text) if render else "",
            }
        )
    return result


@lru_cache(maxsize=256)
def _guidance_html(version: PolicyVersion, path: str, instructions: str) -> tuple[str, str]:
    guidance = category_guidance(version, path)
    guidance["rubric"] = version.rubric
    guidance["instructions"] = instructions
    html = render_to_string("labeling/annotation/_guidance.html", {"guidance": guidance})
    return str(guidance["name"]), html


def pair_guidance(campaign: Campaign, pair: Pair) -> tuple[str, SafeString]:
    """(category name, guidance panel HTML) for the pair's category under the campaign's
    pinned policy version. A published version never changes, so the panel is rendered once
    per (version, category, campaign instructions) and kept."""
    name, html = _guidance_html(
        campaign.policy_version, pair.prompt.category_path, campaign.instructions
    )
    return name, mark_safe(html)  # noqa: S308 - a template render: everything in it is escaped or sanitised
