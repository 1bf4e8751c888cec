"""The claim through the ORM, for databases other than PostgreSQL (the SQLite demo).

On PostgreSQL a claim is one prepared statement (``postgres``); its SQL is PostgreSQL's
own. Elsewhere the same rules run as ordinary ORM queries in one transaction: the caller's
live lease comes back; the daily cap stops the day's work, and the human budget the
campaign's (claims of a budgeted campaign take turns on its row); pairs accepted as AI labels
are never served; the highest routing rank first, then the pairs closest to completion, then
the oldest, picked ``select_for_update(skip_locked=True)`` where the database has it; a free
slot is leased (an expired lease without a judgment is handed over). The database
constraints (unique (pair, slot), unique (pair, annotator)) hold the invariants either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from labeling.models import Assignment, Campaign, Judgment, Pair, Skip

from .outcome import Outcome
from .side_order import left_is_a_for


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _live_assignment(*, campaign: Campaign, annotator: Any, now: datetime) -> Assignment | None:
    return (
        Assignment.objects.select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
        .filter(
            campaign=campaign, annotator=annotator, completed_at__isnull=True, expires_at__gt=now
        )
        .order_by("id")
        .first()
    )


def _claimable_pairs(
    *, campaign: Campaign, annotator: Any, now: datetime, gold: tuple[bool, ...]
) -> Any:
    """The pairs (gold, ordinary, or both: ``gold`` lists the kinds) that ``annotator`` may
    take a slot of at ``now``: not accepted as AI labels, the highest routing rank first, then
    closest to completion, then the oldest."""
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
        Pair.objects.select_related("prompt", "candidate_a", "candidate_b")
        .filter(campaign=campaign, is_gold__in=gold, ai_accepted=False, judgment_count__lt=k)
        .exclude(Exists(Judgment.objects.filter(pair=OuterRef("pk"), annotator=annotator)))
        .exclude(Exists(Skip.objects.filter(pair=OuterRef("pk"), annotator=annotator)))
        .alias(taken=Coalesce(Subquery(taken_slots), Value(0)))
        .filter(taken__lt=k)
        .order_by("-route_rank", "-judgment_count", "id")
    )


def _next_pair(*, campaign: Campaign, annotator: Any, now: datetime, gold: bool) -> Pair | None:
    return (
        _claimable_pairs(campaign=campaign, annotator=annotator, now=now, gold=(gold,))
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def human_budget_used(*, campaign: Campaign, now: datetime) -> int:
    """The campaign's human judgments plus its live leases: what counts against its budget."""
    judged = Judgment.objects.filter(pair__campaign=campaign).count()
    leased = Assignment.objects.filter(
        campaign=campaign, completed_at__isnull=True, expires_at__gt=now
    ).count()
    return judged + leased


def claimable_pair_exists(*, campaign: Campaign, annotator: Any, now: datetime) -> bool:
    """Whether any pair of ``campaign`` has a slot ``annotator`` may take at ``now``, locked or
    not: a plain read that waits for no lock and skips none. Either path's claim picks with
    SKIP LOCKED, so when it finds nothing this tells "done" (nothing left) from "busy" (what
    is left is locked by other requests for a moment). Gold counts only where it is served."""
    kinds = (False, True) if campaign.gold_rate > 0 else (False,)
    return _claimable_pairs(campaign=campaign, annotator=annotator, now=now, gold=kinds).exists()


def _take_slot(
    *, campaign: Campaign, annotator: Any, pair: Pair, now: datetime, left_is_a: bool
) -> Assignment | None:
    """With the pair picked inside the claim's transaction: lease a free slot of ``pair``."""
    expires_at = now + timedelta(minutes=campaign.lease_minutes)
    rows = list(Assignment.objects.filter(pair=pair))
    own = next((row for row in rows if row.annotator_id == annotator.pk), None)
    if own is not None:
        # The caller's own lease ran out and nobody took the slot: renew it, draft included.
        Assignment.objects.filter(pk=own.pk).update(expires_at=expires_at)
        own.expires_at = expires_at
        own.pair = pair
        return own
    live = {row.slot for row in rows if row.completed_at is not None or row.expires_at > now}
    free = [slot for slot in range(campaign.judgments_per_pair) if slot not in live]
    if not free:
        return None
    slot = free[0]
    expired = next((row for row in rows if row.slot == slot), None)
    if expired is not None:
        # An expired lease without a judgment: the slot returns to the pool by handing this
        # row to the new annotator (its old holder's late submit finds it is not theirs).
        changes = {
            "annotator_id": annotator.pk,
            "left_is_a": left_is_a,
            "expires_at": expires_at,
            "created_at": now,
            "draft": {},
        }
        Assignment.objects.filter(pk=expired.pk, completed_at__isnull=True).update(**changes)
        for field, value in changes.items():
            setattr(expired, field, value)
        expired.pair = pair
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


def claim(*, campaign: Campaign, annotator: Any, now: datetime, gold_first: bool) -> Outcome:
    """One claim, as ``postgres.claim`` answers it (without its "race": this path waits)."""
    with transaction.atomic():
        current = _live_assignment(campaign=campaign, annotator=annotator, now=now)
        if current is not None:
            return Outcome(current, "ok")
        if campaign.daily_cap is not None:
            done_today = Judgment.objects.filter(
                annotator=annotator,
                pair__prompt__campaign=campaign,
                created_at__gte=_start_of_day(now),
            ).count()
            if done_today >= campaign.daily_cap:
                return Outcome(None, "daily_cap")
        if campaign.human_budget is not None:
            # Claims of a budgeted campaign take turns, so two never both take its last slot.
            list(
                Campaign.objects.select_for_update(no_key=True)
                .filter(pk=campaign.pk)
                .values_list("pk")
            )
            if human_budget_used(campaign=campaign, now=now) >= campaign.human_budget:
                return Outcome(None, "budget")
        kinds = [gold_first] + ([not gold_first] if campaign.gold_rate > 0 else [])
        for gold in kinds:
            pair = _next_pair(campaign=campaign, annotator=annotator, now=now, gold=gold)
            if pair is None:
                continue
            left_is_a = left_is_a_for(annotator_id=annotator.pk, pair_id=pair.pk)
            assignment = _take_slot(
                campaign=campaign, annotator=annotator, pair=pair, now=now, left_is_a=left_is_a
            )
            if assignment is not None:
                assignment.campaign = campaign
                assignment.annotator = annotator
                return Outcome(assignment, "ok")
        return Outcome(None, "done")


class OrmPath:
    """The claim path on other databases (``claim.ClaimPath``): ORM queries, one claim at a
    time; a submit is the services' own ``judgment_submit``."""

    one_statement = False

    def claim(
        self, *, campaign: Campaign, annotator: Any, now: datetime, gold_first: bool
    ) -> Outcome:
        return claim(campaign=campaign, annotator=annotator, now=now, gold_first=gold_first)

    def submit_and_claim(
        self,
        *,
        assignment_id: int,
        campaign: Campaign,
        annotator: Any,
        now: datetime,
        gold_first: bool,
        values_if_a_left: dict[str, Any],
        values_if_b_left: dict[str, Any],
        time_on_task_ms: int | None,
    ) -> tuple[Judgment, Outcome] | None:
        """Nothing written: this path has no one-query submit, so the caller submits through
        the ORM and then claims (as it does whenever this answers None)."""
        return None

    def serialise_claims(self, *, campaign: Campaign, annotator: Any) -> None:
        """Nothing to take: here the claim after a submit runs in the submit's transaction,
        behind its lock on the assignment row (where the database locks rows), so the second
        request of a double click waits for the first."""
