"""Every write of the annotation workflow: claim, submit, skip, draft, edit.

The invariants live in the database: ``Assignment`` has unique (pair, slot) with slots below
the campaign's ``k`` and unique (pair, annotator); ``Judgment`` is unique per (pair, annotator)
and one-to-one with its assignment (the idempotency key of a submit). A completed assignment
keeps its slot for ever, so live leases plus judgments never exceed ``k``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from labeling.models import Assignment, Campaign, Candidate, Judgment, JudgmentRevision, Pair, Skip
from policy import rubric
from policy.rubric import Flag
from presentation.untrusted_text import RENDERER, stored_html

from .claim import ClaimPath, Outcome, claim_path, claimable_pair_exists
from .claim.side_order import left_is_a_for
from .validation import CleanJudgment, JudgmentInvalid, judgment_clean

DRAFT_KEYS = (*rubric.SHOWN_JUDGMENT_FIELDS, rubric.TIME_ON_TASK_FIELD)
MAX_DRAFT_VALUE = 5000
MAX_SKIP_REASON = rubric.SKIP_REASON_MAX_LENGTH
# A claim that finds nothing free while work remains (it lost a race for a slot, or every
# claimable pair is locked for a moment by another request's claim or submit) asks again,
# each attempt a fresh snapshot, after a short randomised wait that doubles, for at most
# CLAIM_PATIENCE_SECONDS in all; only then does it answer "busy". Locks on pairs last one
# statement, so a few milliseconds usually suffice.
CLAIM_PATIENCE_SECONDS = 2.0
CLAIM_FIRST_WAIT_SECONDS = 0.002
CLAIM_LONGEST_WAIT_SECONDS = 0.1
JUDGMENT_VALUE_FIELDS = rubric.JUDGMENT_VALUE_COLUMNS


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
    """The pair to work on, or why there is none: ``"done"`` (nothing claimable is left for
    the annotator), ``"busy"`` (work remains but stayed locked by other requests for the
    whole patience: ask again), ``"daily_cap"``, ``"budget"`` (the campaign's human budget is
    used up), ``"closed"``."""

    assignment: Assignment | None
    reason: str = "ok"


def _campaign_is_open(campaign: Campaign) -> bool:
    return campaign.status == Campaign.Status.OPEN


def one_statement_round_trip() -> bool:
    """Whether claims and submits run as PostgreSQL's statements (``claim.postgres``) or
    through the ORM (``claim.orm``: the SQLite demo). Both keep the same rules and invariants;
    tests turn this off to run the ORM path on PostgreSQL."""
    return claim_path().one_statement


def _claims() -> ClaimPath:
    return claim_path(orm=not one_statement_round_trip())


def _gold_first(campaign: Campaign, rng: random.Random | None) -> bool:
    """Whether this claim tries a gold pair first: gold is mixed in at the campaign's rate."""
    return campaign.gold_rate > 0 and (rng or random).random() < campaign.gold_rate


def assignment_claim(
    *,
    campaign: Campaign,
    annotator: User,
    rng: random.Random | None = None,
    patience_seconds: float = CLAIM_PATIENCE_SECONDS,
) -> ClaimResult:
    """Give ``annotator`` one pair of ``campaign`` to judge, leased for the campaign's lease.

    While an earlier lease of theirs in this campaign lives, that same assignment comes back.
    The campaign's routing orders the pairs (labeling/routing/: under ``uniform`` the pairs
    closest to completion come first, then the oldest; pairs accepted as AI labels never
    come); gold pairs are mixed in at the campaign's ``gold_rate``; a daily cap stops the
    day's work, and a human budget the campaign's. On PostgreSQL one SQL
    statement (see ``claim.postgres``), so a fixed number of queries whatever the data size.

    The claim skips pairs other requests hold locked, so finding nothing does not mean
    nothing is left: it answers "done" only when a read without locks finds no pair the
    annotator may take; otherwise it asks again (see ``CLAIM_PATIENCE_SECONDS``) and, if the
    work stays locked all that time, answers "busy".
    """
    if not _campaign_is_open(campaign):
        return ClaimResult(None, "closed")
    claims = _claims()
    deadline = time.monotonic() + patience_seconds
    wait = CLAIM_FIRST_WAIT_SECONDS
    while True:
        try:
            outcome = claims.claim(
                campaign=campaign,
                annotator=annotator,
                now=timezone.now(),
                gold_first=_gold_first(campaign, rng),
            )
        except IntegrityError:
            # Two tabs of one annotator raced for the same pair; the loser simply asks again.
            outcome = Outcome(None, "race")
        settled = _settled(outcome, campaign=campaign, annotator=annotator)
        if settled is not None:
            return settled
        if time.monotonic() + wait > deadline:
            return ClaimResult(None, "busy")
        # Randomised, so claims that collided do not collide again in step (from the module's
        # generator: ``rng`` draws only the gold mix, which stays the same with or without
        # retries).
        time.sleep(wait * random.uniform(0.5, 1.0))
        wait = min(wait * 2, CLAIM_LONGEST_WAIT_SECONDS)


def _settled(outcome: Outcome, *, campaign: Campaign, annotator: User) -> ClaimResult | None:
    """What a claim answers for ``outcome``, or None when it should ask again: it lost a
    race for a slot, or found nothing while a pair it may take exists, locked by others."""
    if outcome.reason == "race":
        return None
    if outcome.reason == "done" and claimable_pair_exists(
        campaign=campaign, annotator=annotator, now=timezone.now()
    ):
        return None
    return ClaimResult(outcome.assignment, outcome.reason)


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
        # The pair's counter first: it may wait for a claim that holds the pair, and until the
        # assignment row is written that claim never waits for us (see claim/postgres.py).
        Pair.objects.filter(pk=assignment.pair_id).update(judgment_count=F("judgment_count") + 1)
        judgment = Judgment.objects.create(
            pair_id=assignment.pair_id,
            annotator=annotator,
            assignment=assignment,
            policy_version_id=campaign.policy_version_id,
            time_on_task_ms=time_on_task_ms,
            **clean.canonical(left_is_a=assignment.left_is_a),
        )
        Assignment.objects.filter(pk=assignment.pk).update(completed_at=now, draft={})
        return judgment, True


def judgment_submit_and_claim_next(
    *,
    assignment_id: int,
    annotator: User,
    campaign: Campaign,
    data: Any,
    time_on_task_ms: int | None = None,
    rng: random.Random | None = None,
) -> tuple[Judgment, bool, ClaimResult]:
    """``judgment_submit`` then ``assignment_claim`` in one transaction: the annotator's round
    trip costs one commit, and the next pair is leased the moment the judgment is saved.

    On PostgreSQL the usual case (valid input, the caller's open assignment) is one query
    (``claim.postgres``); anything else (invalid input, a replayed submit, a lost lease, a
    closed campaign), and every submit elsewhere, goes through ``judgment_submit``, which
    answers it exactly as on its own.
    """
    claims = _claims()
    fast = None
    if claims.one_statement:
        fast = _submit_and_claim_in_one_query(
            claims,
            assignment_id=assignment_id,
            annotator=annotator,
            campaign=campaign,
            data=data,
            time_on_task_ms=time_on_task_ms,
            rng=rng,
        )
    if fast is not None:
        return fast
    with transaction.atomic():
        judgment, created = judgment_submit(
            assignment_id=assignment_id,
            annotator=annotator,
            campaign=campaign,
            data=data,
            time_on_task_ms=time_on_task_ms,
        )
        # One attempt inside the submit's transaction: waiting here would hold the submit's
        # locks (its pair among them) while other claims wait for them to go.
        claim = _claim_after_submit(campaign, annotator, rng, patience_seconds=0)
    if claim.reason == "busy":
        claim = _claim_after_submit(campaign, annotator, rng)
    return judgment, created, claim


def _claim_after_submit(
    campaign: Campaign,
    annotator: User,
    rng: random.Random | None,
    *,
    patience_seconds: float = CLAIM_PATIENCE_SECONDS,
) -> ClaimResult:
    """The claim after a submit when it is not part of the submit's statement (after a lost
    race for a slot, or on the ordinary path). Serialised per annotator and campaign, so the
    two requests of a double click, whichever path each takes, show the same next pair."""
    with transaction.atomic():
        _claims().serialise_claims(campaign=campaign, annotator=annotator)
        return assignment_claim(
            campaign=campaign, annotator=annotator, rng=rng, patience_seconds=patience_seconds
        )


def _submit_and_claim_in_one_query(
    claims: ClaimPath,
    *,
    assignment_id: int,
    annotator: User,
    campaign: Campaign,
    data: Any,
    time_on_task_ms: int | None,
    rng: random.Random | None,
) -> tuple[Judgment, bool, ClaimResult] | None:
    """The round trip as one query, or None when it wrote nothing (the caller then takes
    the ordinary path)."""
    if not _campaign_is_open(campaign):
        return None
    try:
        clean = judgment_clean(data, severity_to_safety=campaign.policy_version.severity_to_safety)
    except JudgmentInvalid:
        return None
    now = timezone.now()
    try:
        submitted = claims.submit_and_claim(
            assignment_id=assignment_id,
            campaign=campaign,
            annotator=annotator,
            now=now,
            gold_first=_gold_first(campaign, rng),
            values_if_a_left=clean.canonical(left_is_a=True),
            values_if_b_left=clean.canonical(left_is_a=False),
            time_on_task_ms=time_on_task_ms,
        )
    except IntegrityError:
        return None
    if submitted is None:
        return None
    judgment, outcome = submitted
    settled = _settled(outcome, campaign=campaign, annotator=annotator)
    if settled is None:
        # The judgment is committed; the next pair was taken or locked by others: ask again.
        return judgment, True, _claim_after_submit(campaign, annotator, rng)
    return judgment, True, settled


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


def candidates_render_stale(*, batch_size: int = 500) -> int:
    """Store the rendering of every candidate whose stored HTML is missing or came from
    another renderer (rows from before stored HTML, or after a markdown or nh3 upgrade or a
    change of rules); the number rendered. Pages render such rows on every show until then.

    Walks the table once in id order, a batch at a time, each batch one transaction."""
    rendered = 0
    after = 0
    while True:
        batch = list(
            Candidate.objects.filter(pk__gt=after)
            .exclude(html_renderer=RENDERER)
            .order_by("pk")
            .only("pk", "text")[:batch_size]
        )
        if not batch:
            return rendered
        for candidate in batch:
            candidate.html, candidate.html_renderer = stored_html(candidate.text)
        with transaction.atomic():
            Candidate.objects.bulk_update(batch, ["html", "html_renderer"])
        rendered += len(batch)
        after = batch[-1].pk


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
    "candidates_render_stale",
    "judgment_edit",
    "judgment_submit",
    "judgment_submit_and_claim_next",
    "left_is_a_for",
]
