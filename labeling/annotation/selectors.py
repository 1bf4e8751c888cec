"""Reads of the annotation workflow, each scoped to what the caller may see.

An annotator only ever reads their own assignments and judgments: every fetch here filters by
the caller, so another person's id answers 404 (no IDOR).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from accounts.roles import Role, has_role, remember_roles
from labeling.database import is_postgresql
from labeling.models import Assignment, Campaign, Judgment, JudgmentRevision, Pair
from policy.models import PolicyVersion
from policy.selectors import category_guidance
from presentation.untrusted_text import candidate_html, render_untrusted

from .claim.postgres import run_prepared


def may_annotate(
    user: User | AnonymousUser, campaign: Campaign, *, member: bool | None = None
) -> bool:
    """Reviewers and admins may work in any campaign; annotators in those open to them.
    ``member``: whether the user is a listed member, when the caller already read it."""
    if has_role(user, Role.REVIEWER, Role.ADMIN):
        return True
    if not has_role(user, Role.ANNOTATOR):
        return False
    if campaign.open_to_all_annotators:
        return True
    if member is None:
        return campaign.members.filter(pk=cast(User, user).pk).exists()
    return member


@lru_cache(maxsize=64)
def policy_version(pk: int) -> PolicyVersion:
    """A policy version by id, kept in process memory: a published version never changes
    (``PolicyVersion`` refuses updates and deletes), and its snapshot is large to fetch and
    parse on every request."""
    return PolicyVersion.objects.get(pk=pk)


ANNOTATING_ROLES = (Role.ANNOTATOR, Role.REVIEWER, Role.ADMIN)
_CAMPAIGN_COLUMNS = tuple(field.column for field in Campaign._meta.concrete_fields)


@lru_cache(maxsize=2)
def _access_sql(*, postgresql: bool) -> str:
    """One statement for :func:`campaign_for_annotation`: the caller's role names (a JSON
    array), whether they are a listed member of the campaign, and the campaign's row (all
    NULL when no campaign has the slug)."""
    groups = User.groups.through._meta
    members = Campaign.members.through._meta
    # Fixed names from the models' metadata; every value is a bound parameter.
    return (  # noqa: S608
        "SELECT (SELECT {aggregate} FROM {user_groups} ug "
        "JOIN {group} g ON g.id = ug.{ug_group} WHERE ug.{ug_user} = %(user)s), "
        "EXISTS (SELECT 1 FROM {members} m WHERE m.{m_campaign} = c.id AND m.{m_user} = %(user)s), "
        "{columns} FROM (SELECT 1) AS one LEFT JOIN {campaign} c ON c.slug = %(slug)s"
    ).format(
        aggregate=(
            "COALESCE(json_agg(g.name), '[]'::json)" if postgresql else "json_group_array(g.name)"
        ),
        user_groups=groups.db_table,
        group=Group._meta.db_table,
        ug_group=groups.get_field("group").column,
        ug_user=groups.get_field("user").column,
        members=members.db_table,
        m_campaign=members.get_field("campaign").column,
        m_user=members.get_field("user").column,
        columns=", ".join(f"c.{column}" for column in _CAMPAIGN_COLUMNS),
        campaign=Campaign._meta.db_table,
    )


def campaign_for_annotation(user: User | AnonymousUser, slug: str) -> Campaign:
    """The campaign ``slug`` if ``user`` may annotate in it, with its policy version: 403 for
    a caller who holds no annotating role, then 404 for an unknown slug, then 403 for an
    annotator the campaign is not open to (``may_annotate``).

    On every request of the annotator's round trip, so it is one statement: the caller's
    roles, the campaign and the caller's membership together (building ORM queries would cost
    as much as running them), prepared once per connection on PostgreSQL as the round trip's
    statements are (planning it would cost more than running it). The roles are kept on the
    user as ``user_roles`` keeps them.
    """
    if not user.is_authenticated:
        raise PermissionDenied("Sign in first.")
    postgresql = is_postgresql()
    sql = _access_sql(postgresql=postgresql)
    parameters: dict[str, Any] = {"user": user.pk, "slug": slug}
    if postgresql:
        row: tuple[Any, ...] | None = run_prepared(sql, parameters)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            row = cursor.fetchone()
    assert row is not None  # one row whatever the slug
    role_names, member, *values = row
    remember_roles(user, json.loads(role_names) if isinstance(role_names, str) else role_names)
    if not has_role(user, *ANNOTATING_ROLES):
        raise PermissionDenied("You are not an annotator.")
    if values[0] is None:
        raise Http404("No such campaign.")
    campaign = Campaign.from_db(connection.alias, _CAMPAIGN_COLUMNS, values)
    campaign.policy_version = policy_version(campaign.policy_version_id)
    if not may_annotate(user, campaign, member=bool(member)):
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


def live_assignment_for_annotator(user: User, campaign: Campaign) -> Assignment | None:
    """The caller's live lease in ``campaign`` (open and not run out), with its pair, or None.
    A read only: the pair page shows it on GET; a new lease is taken by a POST."""
    assignment = (
        Assignment.objects.select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
        .filter(
            campaign=campaign,
            annotator=user,
            completed_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("id")
        .first()
    )
    if assignment is not None:
        assignment.campaign = campaign
        assignment.pair.prompt.campaign = campaign
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


def recent_judgments_for_annotator(user: User, *, limit: int) -> list[Judgment]:
    """The caller's newest judgments, each with ``edited``: changed after its submit (it has a
    revision; times cannot tell, since an undo can follow its submit within a second)."""
    revised = JudgmentRevision.objects.filter(judgment=OuterRef("pk"))
    return list(judgments_for_annotator(user).annotate(edited=Exists(revised))[:limit])


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
            html=candidate_html(candidate) if render else "",
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
