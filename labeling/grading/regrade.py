"""Re-grading after a policy change, and sending the labels it flipped to the review queue.

"Re-grade with policy version N" makes (or finds again) the grader version that differs from
the grader's current version in its policy version only, and starts one grading run per
campaign over exactly the items, and the pair orders, the current version graded there.
:mod:`.impact` then compares the two versions' labels.

Bad requests are refused before anything is stored: N not published, N the policy the current
version already applies, nothing graded in scope, or items whose category N lacks. The last is
refused unless asked to grade the rest: a category removed or renamed in N is a decision
someone should see before a report of partial numbers, and the items it leaves out are then
failed per item by the runs (naming the item and the category) and counted by the report as
graded by the old version only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef

from policy.models import PolicyVersion

from ..broker import BrokerUnavailable
from ..models import (
    Campaign,
    Grade,
    Grader,
    GraderVersion,
    GradingRun,
    GradingTask,
    Pair,
    ReviewRequest,
)
from ..quality.review import review_requests_add
from . import runs
from .impact import graded_campaigns, regrade_impact, review_request_key
from .selectors import grader_current_version
from .services import VERSION_FIELDS

SETTINGS_BUT_POLICY = tuple(name for name in VERSION_FIELDS if name != "policy_version")
"""What a re-grade keeps from its source version: everything but the policy version."""
REASON_MAX_FLIPS = 4
"""Flips named in one pair's review reason; more are summed up as "and N more"."""


@dataclass(frozen=True)
class Regrade:
    """What a re-grade request did: the versions compared, and the runs grading the items."""

    source: GraderVersion
    version: GraderVersion
    version_created: bool
    runs: list[GradingRun]
    started: list[GradingRun]
    missing_categories: dict[str, int]


def _source_and_existing(
    grader: Grader, policy: PolicyVersion
) -> tuple[GraderVersion, GraderVersion | None]:
    """The version to re-grade from, and the re-grade version when it is already current.

    Asking twice for the same re-grade finds the first one's version current: its source is
    then the version it was made from, so the second request reuses it.
    """
    current = grader_current_version(grader=grader)
    if current.regraded_from_id is not None and current.policy_version_id == policy.pk:
        source = GraderVersion.objects.select_related("policy_version", "endpoint").get(
            pk=current.regraded_from_id
        )
        return source, current
    return current, None


def _graded_campaigns(source: GraderVersion, campaign: Campaign | None) -> list[Campaign]:
    """The campaigns whose items ``source`` graded (``campaign`` only, when given)."""
    found = graded_campaigns([source])
    if campaign is not None:
        found = found.filter(pk=campaign.pk)
    return list(found.order_by("slug"))


def _missing_categories(
    source: GraderVersion, campaigns: list[Campaign], policy: PolicyVersion
) -> dict[str, int]:
    """Categories of the items to re-grade that ``policy`` lacks, with how many items each.

    A category the version lists, active or not, can be graded (as grading reads guidance)."""
    known = {entry["path"] for entry in policy.snapshot.get("categories", [])}
    grades = Grade.objects.filter(grader_version=source)
    counts: dict[str, int] = {}
    for kind, prefix, scope in (
        (Grade.Kind.CANDIDATE, "candidate__prompt", "candidate__prompt__campaign__in"),
        (Grade.Kind.PAIR, "pair__prompt", "pair__campaign__in"),
    ):
        rows = (
            grades.filter(kind=kind, **{scope: campaigns})
            .order_by()
            .values_list(f"{prefix}__category_path")
            .annotate(items=Count("id"))
        )
        for path, items in rows:
            if path not in known:
                counts[path] = counts.get(path, 0) + items
    return dict(sorted(counts.items()))


def _matching_version(grader: Grader, source: GraderVersion, policy: PolicyVersion) -> Any:
    """A version of ``grader`` with ``source``'s settings and ``policy``: the re-grade made
    from ``source`` before, else any such version (an edit may have made one)."""
    same = grader.versions.filter(
        policy_version=policy, **{name: getattr(source, name) for name in SETTINGS_BUT_POLICY}
    )
    return same.filter(regraded_from=source).first() or same.order_by("number").first()


def _unplanned_items(source: GraderVersion, version: GraderVersion, campaign: Campaign) -> int:
    """How many of ``source``'s grades in ``campaign`` no run of ``version`` has planned yet."""
    planned = GradingTask.objects.filter(run__grader_version=version)
    grades = Grade.objects.filter(grader_version=source)
    candidates = grades.filter(
        kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign=campaign
    ).exclude(
        Exists(planned.filter(kind=Grade.Kind.CANDIDATE, candidate_id=OuterRef("candidate_id")))
    )
    pairs = grades.filter(kind=Grade.Kind.PAIR, pair__campaign=campaign).exclude(
        Exists(
            planned.filter(
                kind=Grade.Kind.PAIR, pair_id=OuterRef("pair_id"), order=OuterRef("order")
            )
        )
    )
    return candidates.count() + pairs.count()


def grader_regrade(
    *,
    grader: Grader,
    policy_version: int,
    campaign: Campaign | None = None,
    grade_missing_categories: bool = False,
    user: Any = None,
) -> Regrade:
    """Re-grade what the grader's current version graded with policy version
    ``policy_version`` (see the module docstring). Raises ``ValidationError`` naming the field,
    and :class:`BrokerUnavailable`; either way nothing is left behind."""
    policy = PolicyVersion.objects.filter(number=policy_version).first()
    if policy is None:
        raise ValidationError(
            {"policy_version": [f"Policy version {policy_version} is not published."]}
        )
    source, existing = _source_and_existing(grader, policy)
    if source.policy_version_id == policy.pk:
        raise ValidationError(
            {
                "policy_version": [
                    f"{grader.name} v{source.number} already applies policy version "
                    f"{policy.number}; a re-grade needs another policy version."
                ]
            }
        )
    campaigns = _graded_campaigns(source, campaign)
    if not campaigns:
        where = f" in campaign {campaign.slug}" if campaign is not None else ""
        raise ValidationError(
            {
                "campaign": [
                    f"{grader.name} v{source.number} has graded nothing{where}: there is nothing "
                    "to re-grade."
                ]
            }
        )
    missing = _missing_categories(source, campaigns, policy)
    if missing and not grade_missing_categories:
        named = ", ".join(
            f"{path} ({items} item{'s' * (items != 1)})" for path, items in missing.items()
        )
        raise ValidationError(
            {
                "policy_version": [
                    f"Policy version {policy.number} lacks categories of items "
                    f"{grader.name} v{source.number} graded: {named}. Re-grade the rest anyway "
                    "(those items then fail, each naming its category), or file the prompts "
                    "under categories the version has."
                ]
            }
        )
    with transaction.atomic():
        # The grader's row lock orders concurrent re-grades and edits, as for edits.
        locked = Grader.objects.select_for_update().get(pk=grader.pk)
        version = existing or _matching_version(locked, source, policy)
        created = version is None
        if version is None:
            last = locked.versions.order_by("-number").values_list("number", flat=True).first()
            version = GraderVersion.objects.create(
                grader=locked,
                number=(last or 0) + 1,
                policy_version=policy,
                regraded_from=source,
                created_by=user if user is not None and user.is_authenticated else None,
                **{name: getattr(source, name) for name in SETTINGS_BUT_POLICY},
            )
    started: list[GradingRun] = []
    found: list[GradingRun] = []
    try:
        for each in campaigns:
            going = _regrade_runs(source, version, each)
            active = [run for run in going if run.is_active]
            if active or (going and not _unplanned_items(source, version, each)):
                found.extend(active or going[:1])
                continue
            graded = Grade.objects.filter(grader_version=source)
            run = runs.run_create(
                campaign=each,
                grader_version=version,
                candidates=graded.filter(
                    kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign=each
                ).exists(),
                pairs=graded.filter(kind=Grade.Kind.PAIR, pair__campaign=each).exists(),
                regrade_of=source,
                created_by=user if user is not None and user.is_authenticated else None,
            )
            started.append(run)
    except BrokerUnavailable:
        # The runs started before the broker went away are removed with the version made now.
        GradingRun.objects.filter(pk__in=[run.pk for run in started]).delete()
        if created:
            GraderVersion.objects.filter(pk=version.pk).delete()
        raise
    return Regrade(
        source=source,
        version=version,
        version_created=created,
        runs=[*started, *found],
        started=started,
        missing_categories=missing,
    )


def _regrade_runs(
    source: GraderVersion, version: GraderVersion, campaign: Campaign
) -> list[GradingRun]:
    """The runs that grade ``source``'s items with ``version`` in ``campaign``, newest first."""
    return list(
        GradingRun.objects.filter(
            grader_version=version, regrade_of=source, campaign=campaign
        ).order_by("-created_at", "-id")
    )


def regrade_pairs(*, version: GraderVersion) -> list[dict[str, Any]]:
    """The comparisons of ``version``'s grader to offer: each re-grade version with its source
    and the campaigns its runs covered, newest first."""
    rows = []
    regrades = (
        GraderVersion.objects.filter(grader_id=version.grader_id, regraded_from__isnull=False)
        .select_related("regraded_from", "policy_version", "regraded_from__policy_version")
        .order_by("-number")
    )
    for regrade in regrades:
        campaigns = list(
            Campaign.objects.filter(
                grading_runs__grader_version=regrade,
                grading_runs__regrade_of_id=regrade.regraded_from_id,
            )
            .distinct()
            .order_by("slug")
        )
        rows.append({"old": regrade.regraded_from, "new": regrade, "campaigns": campaigns})
    return rows


def _pair_reason(policy_number: int, changes: list[str]) -> str:
    shown = changes[:REASON_MAX_FLIPS]
    more = len(changes) - len(shown)
    text = "; ".join(shown) + (f"; and {more} more" if more else "")
    return f"policy v{policy_number} re-grade: {text}"


@dataclass(frozen=True)
class SentToReview:
    added: list[int]
    already: list[int]


def impact_send_to_review(
    *, old: GraderVersion, new: GraderVersion, campaign: Campaign | None, user: Any = None
) -> SentToReview:
    """Send every pair the comparison flipped to the review queue, once: a flipped pair, and
    for a flipped candidate each pair of its campaign that holds it. The reason names the
    flips ("policy v2 re-grade: candidate 7 (A): severity low → high")."""
    report = regrade_impact(old=old, new=new, campaign=campaign)
    changes: dict[int, list[str]] = {}
    for item in report["pairs"]:
        changes.setdefault(item["pair"], []).extend(change["text"] for change in item["changes"])
    flipped = {item["candidate"]: item for item in report["candidates"]}
    holding = Pair.objects.filter(candidate_a_id__in=list(flipped)) | Pair.objects.filter(
        candidate_b_id__in=list(flipped)
    )
    for pair_id, candidate_a, candidate_b in holding.order_by("id").values_list(
        "id", "candidate_a_id", "candidate_b_id"
    ):
        for side, candidate_id in (("A", candidate_a), ("B", candidate_b)):
            if candidate_id in flipped:
                changes.setdefault(pair_id, []).extend(
                    f"candidate {candidate_id} ({side}): {change['text']}"
                    for change in flipped[candidate_id]["changes"]
                )
    key = review_request_key(old, new)
    reasons = {
        pair_id: _pair_reason(new.policy_version.number, texts)
        for pair_id, texts in changes.items()
    }
    added = review_requests_add(
        reasons=reasons, key=key, source=ReviewRequest.Source.REGRADE, requested_by=user
    )
    return SentToReview(added=added, already=sorted(set(reasons) - set(added)))
