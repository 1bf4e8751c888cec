"""Every write of the annotation workflow: claim, submit, skip, draft, edit.

The invariants live in the database: ``Assignment`` has unique (pair, slot) with slots below
the campaign's ``k`` and unique (pair, annotator); ``Judgment`` is unique per (pair, annotator)
and one-to-one with its assignment (the idempotency key of a submit). A completed assignment
keeps its slot for ever, so live leases plus judgments never exceed ``k``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import Assignment, Campaign, Judgment, JudgmentRevision, Pair, Skip
from labeling.models.choices import Flag

from .validation import CleanJudgment, JudgmentInvalid, judgment_clean

DRAFT_KEYS = (
    "left_response_mode", "left_severity", "left_helpfulness",
    "right_response_mode", "right_severity", "right_helpfulness",
    "preference", "rationale", "flags", "flag_note", "time_on_task_ms",
)  # fmt: skip
MAX_DRAFT_VALUE = 5000
MAX_SKIP_REASON = 1000
JUDGMENT_VALUE_FIELDS = (
    "a_response_mode", "a_severity", "a_helpfulness",
    "b_response_mode", "b_severity", "b_helpfulness",
    "preference", "rationale", "flags", "flag_note",
)  # fmt: skip


class AnnotationError(Exception):
    """A request the workflow refuses; ``status`` is the HTTP answer it maps to."""

    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AssignmentNotFound(AnnotationError):
    status = 404


class AssignmentLost(AnnotationError):
    """The lease ran out and the slot went to someone else."""

    status = 409


class CampaignNotOpen(AnnotationError):
    status = 409


class SkipInvalid(AnnotationError):
    status = 400


@dataclass(frozen=True)
class ClaimResult:
    """The pair to work on, or why there is none (``"done"``, ``"daily_cap"``, ``"closed"``)."""

    assignment: Assignment | None
    reason: str = "ok"


def left_is_a_for(*, annotator_id: int, pair_id: int) -> bool:
    """The side order shown to one annotator for one pair: random-looking, but stable."""
    digest = hashlib.sha256(f"graylab-sides:{annotator_id}:{pair_id}".encode()).digest()
    return bool(digest[0] & 1)


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _pair_queryset() -> Any:
    return Pair.objects.select_related("prompt", "candidate_a", "candidate_b")


def _live_assignment(*, campaign: Campaign, annotator: User, now: datetime) -> Any:
    # Usually there is none (the round trip has just completed it): a cheap probe on the
    # partial index first, the full row with its pair only when one exists.
    live_id = (
        Assignment.objects.filter(
            campaign=campaign, annotator=annotator, completed_at__isnull=True, expires_at__gt=now
        )
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if live_id is None:
        return None
    return Assignment.objects.select_related(
        "pair__prompt", "pair__candidate_a", "pair__candidate_b"
    ).get(pk=live_id)


def _next_pair(*, campaign: Campaign, annotator: User, now: datetime, gold: bool) -> Pair | None:
    k = campaign.judgments_per_pair
    # A slot is taken by a judgment (completed assignment) or a lease that has not run out.
    taken_slots = (
        Assignment.objects.filter(pair=OuterRef("pk"))
        .filter(Q(completed_at__isnull=False) | Q(expires_at__gt=now))
        .order_by()
        .values("pair")
        .annotate(taken=Count("id"))
        .values("taken")
    )
    return (
        _pair_queryset()
        .filter(prompt__campaign=campaign, is_gold=gold, judgment_count__lt=k)
        .exclude(Exists(Judgment.objects.filter(pair=OuterRef("pk"), annotator=annotator)))
        .exclude(Exists(Skip.objects.filter(pair=OuterRef("pk"), annotator=annotator)))
        .alias(taken=Coalesce(Subquery(taken_slots), Value(0)))
        .filter(taken__lt=k)
        # Finish pairs before starting new ones, then oldest first (index pair_claim_order).
        .order_by("-judgment_count", "id")
        # FOR UPDATE … SKIP LOCKED so two annotators never wait on, or both take, one pair's
        # last slot: each locks the pair row it picks and the other moves on to the next.
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def _take_slot(
    *, campaign: Campaign, annotator: User, pair: Pair, now: datetime
) -> Assignment | None:
    """Inside the claim transaction, with the pair row locked: lease a free slot of ``pair``."""
    expires_at = now + timedelta(minutes=campaign.lease_minutes)
    rows = list(
        Assignment.objects.filter(pair=pair).only(
            "id", "slot", "annotator_id", "completed_at", "expires_at", "draft", "left_is_a"
        )
    )
    own = next((row for row in rows if row.annotator_id == annotator.pk), None)
    if own is not None:
        # Our own lease ran out and nobody took the slot: renew it, draft included.
        Assignment.objects.filter(pk=own.pk).update(expires_at=expires_at)
        own.expires_at = expires_at
        own.pair = pair
        own.campaign = campaign
        own.annotator = annotator
        return own
    live = {row.slot for row in rows if row.completed_at is not None or row.expires_at > now}
    free = [slot for slot in range(campaign.judgments_per_pair) if slot not in live]
    if not free:
        return None
    slot = free[0]
    left_is_a = left_is_a_for(annotator_id=annotator.pk, pair_id=pair.pk)
    expired = next((row for row in rows if row.slot == slot), None)
    if expired is not None:
        # An expired lease without a judgment: the slot returns to the pool by handing this
        # row to the new annotator (its old holder's late submit will find it is not theirs).
        Assignment.objects.filter(pk=expired.pk, completed_at__isnull=True).update(
            annotator=annotator,
            left_is_a=left_is_a,
            expires_at=expires_at,
            created_at=now,
            draft={},
        )
        expired.annotator = annotator
        expired.annotator_id = annotator.pk
        expired.left_is_a = left_is_a
        expired.expires_at = expires_at
        expired.created_at = now
        expired.draft = {}
        expired.pair = pair
        expired.campaign = campaign
        return expired
    assignment = Assignment(
        pair=pair,
        campaign=campaign,
        annotator=annotator,
        slot=slot,
        left_is_a=left_is_a,
        expires_at=expires_at,
    )
    assignment.save(force_insert=True)
    return assignment


def _campaign_is_open(campaign: Campaign) -> bool:
    return campaign.status == Campaign.Status.OPEN


def assignment_claim(
    *, campaign: Campaign, annotator: User, rng: random.Random | None = None
) -> ClaimResult:
    """Give ``annotator`` one pair of ``campaign`` to judge, leased for the campaign's lease.

    While an earlier lease of theirs in this campaign lives, that same assignment comes back.
    Pairs closest to completion come first, then the oldest; gold pairs are mixed in at the
    campaign's ``gold_rate``. A fixed number of queries whatever the data size.
    """
    if not _campaign_is_open(campaign):
        return ClaimResult(None, "closed")
    for _attempt in range(3):
        try:
            with transaction.atomic():
                now = timezone.now()
                current = _live_assignment(campaign=campaign, annotator=annotator, now=now)
                if current is not None:
                    return ClaimResult(current)
                if campaign.daily_cap is not None:
                    done_today = Judgment.objects.filter(
                        annotator=annotator,
                        pair__prompt__campaign=campaign,
                        created_at__gte=_start_of_day(now),
                    ).count()
                    if done_today >= campaign.daily_cap:
                        return ClaimResult(None, "daily_cap")
                draw = (rng or random).random()
                gold_first = campaign.gold_rate > 0 and draw < campaign.gold_rate
                kinds = [gold_first] + ([not gold_first] if campaign.gold_rate > 0 else [])
                for gold in kinds:
                    pair = _next_pair(campaign=campaign, annotator=annotator, now=now, gold=gold)
                    if pair is None:
                        continue
                    assignment = _take_slot(
                        campaign=campaign, annotator=annotator, pair=pair, now=now
                    )
                    if assignment is not None:
                        return ClaimResult(assignment)
                return ClaimResult(None, "done")
        except IntegrityError:
            # Two tabs of one annotator raced for the same pair; the loser simply asks again.
            continue
    return ClaimResult(None, "done")


def _locked_assignment(*, assignment_id: int, annotator: User) -> Assignment:
    assignment = Assignment.objects.select_for_update().filter(pk=assignment_id).first()
    if assignment is None:
        raise AssignmentNotFound("No such assignment.")
    if assignment.annotator_id != annotator.pk:
        # Either it was never theirs, or their lease ran out and the slot was given away.
        raise AssignmentLost(
            "This pair is no longer assigned to you (the lease ran out and someone else "
            "took it). Your answer was not saved; here is your next pair."
        )
    return assignment


def judgment_submit(
    *,
    assignment_id: int,
    annotator: User,
    campaign: Campaign,
    data: Any,
    time_on_task_ms: int | None = None,
) -> tuple[Judgment, bool]:
    """Record the judgment of an assignment; ``(judgment, created)``.

    ``data`` is in shown order (``left``/``right``, preference negative = left better); the
    judgment is stored in canonical order with the shown order beside it. The assignment is
    the idempotency key: a repeated or concurrent submit returns the first judgment and
    creates nothing. Bad input raises ``JudgmentInvalid`` and saves nothing.
    """
    with transaction.atomic():
        # The row lock serialises a double click: the second waits, then sees the judgment.
        assignment = _locked_assignment(assignment_id=assignment_id, annotator=annotator)
        if assignment.campaign_id != campaign.pk:
            raise AssignmentNotFound("No such assignment in this campaign.")
        if assignment.completed_at is not None:
            return Judgment.objects.get(assignment=assignment), False
        if not _campaign_is_open(campaign):
            raise CampaignNotOpen("This campaign is not open for annotation.")
        clean = judgment_clean(data, severity_to_safety=campaign.policy_version.severity_to_safety)
        now = timezone.now()
        if time_on_task_ms is None:
            elapsed = now - assignment.created_at
            time_on_task_ms = max(0, int(elapsed.total_seconds() * 1000))
        judgment = Judgment.objects.create(
            pair_id=assignment.pair_id,
            annotator=annotator,
            assignment=assignment,
            policy_version_id=campaign.policy_version_id,
            time_on_task_ms=time_on_task_ms,
            **clean.canonical(left_is_a=assignment.left_is_a),
        )
        Assignment.objects.filter(pk=assignment.pk).update(completed_at=now, draft={})
        Pair.objects.filter(pk=assignment.pair_id).update(judgment_count=F("judgment_count") + 1)
        return judgment, True


def judgment_submit_and_claim_next(
    *,
    assignment_id: int,
    annotator: User,
    campaign: Campaign,
    data: Any,
    time_on_task_ms: int | None = None,
) -> tuple[Judgment, bool, ClaimResult]:
    """``judgment_submit`` then ``assignment_claim`` in one transaction: the annotator's round
    trip costs one commit, and the next pair is leased the moment the judgment is saved."""
    with transaction.atomic():
        judgment, created = judgment_submit(
            assignment_id=assignment_id,
            annotator=annotator,
            campaign=campaign,
            data=data,
            time_on_task_ms=time_on_task_ms,
        )
        return judgment, created, assignment_claim(campaign=campaign, annotator=annotator)


def _clean_flags(flags: Any) -> list[str]:
    if flags in (None, ""):
        return []
    if isinstance(flags, str):
        flags = [flags]
    if not isinstance(flags, list | tuple) or any(flag not in Flag.values for flag in flags):
        raise SkipInvalid(f"Flags must be a list drawn from {', '.join(Flag.values)}.")
    return sorted(set(flags), key=Flag.values.index)


def assignment_skip(*, assignment_id: int, annotator: User, reason: str, flags: Any = None) -> Skip:
    """Pass on a pair (with a reason, optionally flagging it): it returns to the pool for
    others and is never offered to this annotator again."""
    clean_flags = _clean_flags(flags)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason and not clean_flags:
        raise SkipInvalid("Give a reason for skipping (or flag the problem).")
    if "\x00" in reason:
        raise SkipInvalid("The reason contains a NUL character.")
    if len(reason) > MAX_SKIP_REASON:
        raise SkipInvalid(f"The reason is too long (at most {MAX_SKIP_REASON} characters).")
    with transaction.atomic():
        assignment = _locked_assignment(assignment_id=assignment_id, annotator=annotator)
        if assignment.completed_at is not None:
            raise AnnotationError("This pair is already judged; edit the judgment instead.")
        skip, _ = Skip.objects.get_or_create(
            pair_id=assignment.pair_id,
            annotator=annotator,
            defaults={"reason": reason, "flags": clean_flags},
        )
        assignment.delete()
        return skip


def assignment_draft_save(*, assignment_id: int, annotator: User, draft: Any) -> bool:
    """Keep the unfinished form of a live assignment (and extend its lease while the annotator
    is at work). False when the assignment is no longer theirs or already judged."""
    if not isinstance(draft, dict):
        draft = {}
    kept: dict[str, Any] = {}
    for key in DRAFT_KEYS:
        value = draft.get(key)
        # PostgreSQL's jsonb cannot hold NUL characters; a draft is only a convenience.
        if isinstance(value, list):
            value = [str(item)[:100].replace("\x00", "") for item in value[:10]]
        elif value is not None:
            value = str(value)[:MAX_DRAFT_VALUE].replace("\x00", "")
        if value not in (None, "", []):
            kept[key] = value
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .select_related("campaign")
            .filter(pk=assignment_id, annotator=annotator, completed_at__isnull=True)
            .first()
        )
        if assignment is None:
            return False
        lease = timedelta(minutes=assignment.campaign.lease_minutes)
        Assignment.objects.filter(pk=assignment.pk).update(
            draft=kept, expires_at=max(assignment.expires_at, timezone.now() + lease)
        )
    return True


def _judgment_values(judgment: Judgment) -> dict[str, Any]:
    return {name: getattr(judgment, name) for name in JUDGMENT_VALUE_FIELDS}


def judgment_edit(*, judgment_id: int, annotator: User, data: Any) -> Judgment:
    """Change one's own judgment while its campaign is open; the old values go to history.

    ``data`` is in the order the annotator was shown the pair when judging it.
    """
    with transaction.atomic():
        judgment = (
            Judgment.objects.select_for_update(of=("self",))
            .select_related("pair__prompt__campaign__policy_version")
            .filter(pk=judgment_id, annotator=annotator)
            .first()
        )
        if judgment is None:
            raise AssignmentNotFound("No such judgment.")
        campaign = judgment.pair.prompt.campaign
        if not _campaign_is_open(campaign):
            raise CampaignNotOpen("This campaign is closed; its judgments can no longer change.")
        clean: CleanJudgment = judgment_clean(
            data, severity_to_safety=campaign.policy_version.severity_to_safety
        )
        new_values = clean.canonical(left_is_a=judgment.left_is_a)
        new_values.pop("left_is_a")
        old_values = _judgment_values(judgment)
        if old_values == {name: new_values[name] for name in JUDGMENT_VALUE_FIELDS}:
            return judgment
        JudgmentRevision.objects.create(judgment=judgment, values=old_values)
        for name, value in new_values.items():
            setattr(judgment, name, value)
        judgment.save(update_fields=[*JUDGMENT_VALUE_FIELDS, "updated_at"])
        return judgment


__all__ = [
    "AnnotationError",
    "AssignmentLost",
    "AssignmentNotFound",
    "CampaignNotOpen",
    "ClaimResult",
    "JudgmentInvalid",
    "SkipInvalid",
    "assignment_claim",
    "assignment_draft_save",
    "assignment_skip",
    "judgment_edit",
    "judgment_submit",
    "judgment_submit_and_claim_next",
    "left_is_a_for",
]
