"""Grading runs: create, plan, finalise, cancel, resume, and the sweep that recovers lost work.

The database, not the broker, is the record of what is left to do. A run plans one
``GradingTask`` row (a planned grade) per candidate, and per pair and order (a pair is graded
with A shown first and with B shown first, so position inconsistency is measured), under a
unique idempotency key; :mod:`.dispatch` sends the rows to the workers and :mod:`.executor`
turns each into a grade. A worker killed at any point leaves either a pending row or a running
row whose lease expires, and :func:`run_recover` sends those again.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from ..broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from ..generation.dispatch import PLAN_BATCH
from ..models import Campaign, Candidate, Grade, GraderVersion, GradingRun, GradingTask, Pair
from ..sweeps import sweep_claimed
from .dispatch import enqueue_claimable, enqueue_ids
from .tasks import enqueue_plan

PAIR_ORDERS = (Grade.Order.AB.value, Grade.Order.BA.value)
"""Every pair is graded in both orders."""


def planned_key(*, version_id: int, kind: str, item_id: int, order: str = "") -> str:
    """The idempotency key of one planned grade: a grader version grades an item (and a pair
    in an order) once, whichever run plans it."""
    raw = f"grade|{version_id}|{kind}|{item_id}|{order}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def run_lease_seconds(version: GraderVersion) -> float:
    """How long a claim lasts: per sample at most a slot wait and a call (an endpoint that
    ignores ``n`` is asked once per sample), each within the endpoint's timeout, plus margin."""
    return 2 * version.endpoint.timeout_seconds * version.samples + 5.0


def run_create(
    *,
    campaign: Campaign,
    grader_version: GraderVersion,
    candidates: bool = True,
    pairs: bool = True,
    limit: int | None = None,
    regrade_of: GraderVersion | None = None,
    created_by: AbstractBaseUser | None = None,
) -> GradingRun:
    """Create a run; once the transaction commits, a worker plans its grades and fans out.

    With ``regrade_of`` the run grades exactly the items (and pair orders) that version graded
    in the campaign, whatever the campaign holds now, so two versions are compared on the same
    items. Raises :class:`BrokerUnavailable` when the plan cannot be enqueued; the run is
    removed then.
    """
    if not (candidates or pairs):
        raise ValidationError({"kinds": "Grade candidates, pairs, or both."})
    if limit is not None and limit < 1:
        raise ValidationError({"limit": "must be at least 1"})
    created: list[GradingRun] = []
    try:
        with transaction.atomic():
            run = GradingRun.objects.create(
                campaign=campaign,
                grader_version=grader_version,
                candidates=candidates,
                pairs=pairs,
                limit=limit,
                regrade_of=regrade_of,
                created_by=created_by if created_by is not None and created_by.pk else None,  # type: ignore[misc]
            )
            created.append(run)
            # Not robust, so a publish error leaves the commit (below) and the run is removed.
            transaction.on_commit(lambda: enqueue_plan(run.pk, retry_policy=QUICK_RETRY))
    except BROKER_ERRORS as error:
        for done in created:
            GradingRun.objects.filter(pk=done.pk).delete()
        raise BrokerUnavailable() from error
    return run


def run_plan(*, run_id: int) -> int:
    """Plan a queued run's grades (idempotent) and send them to the workers. Returns planned.

    A run that no longer exists plans nothing: ``run_create`` removes a run whose message the
    broker refused, and a plan message sent before the refusal may still arrive.
    """
    run = GradingRun.objects.filter(pk=run_id).first()
    if run is None:
        return 0
    if run.status != GradingRun.Status.QUEUED:
        return run.planned
    version_id = run.grader_version_id
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    fixed = (GradingTask.Status.PENDING, 0, "", "", now)  # status, attempts, errors, updated
    with transaction.atomic():
        if run.regrade_of_id is not None:
            _plan_regrade(run, fixed)
        elif run.candidates:
            candidate_ids = Candidate.objects.filter(prompt__campaign_id=run.campaign_id).order_by(
                "id"
            )
            if run.limit:
                candidate_ids = candidate_ids[: run.limit]
            rows: list[tuple[Any, ...]] = []
            for candidate_id in candidate_ids.values_list("id", flat=True).iterator(
                chunk_size=PLAN_BATCH
            ):
                key = planned_key(version_id=version_id, kind="candidate", item_id=candidate_id)
                rows.append((run.pk, "candidate", candidate_id, None, "", key, *fixed))
                if len(rows) >= PLAN_BATCH:
                    _planned_insert(rows)
                    rows = []
            _planned_insert(rows)
        if run.pairs and run.regrade_of_id is None:
            pair_ids = Pair.objects.filter(campaign_id=run.campaign_id).order_by("id")
            if run.limit:
                pair_ids = pair_ids[: run.limit]
            rows = []
            for pair_id in pair_ids.values_list("id", flat=True).iterator(chunk_size=PLAN_BATCH):
                for order in PAIR_ORDERS:
                    key = planned_key(
                        version_id=version_id, kind="pair", item_id=pair_id, order=order
                    )
                    rows.append((run.pk, "pair", None, pair_id, order, key, *fixed))
                if len(rows) >= PLAN_BATCH:
                    _planned_insert(rows)
                    rows = []
            _planned_insert(rows)
        planned = GradingTask.objects.filter(run=run).count()
        started = GradingRun.objects.filter(pk=run.pk, status=GradingRun.Status.QUEUED).update(
            status=GradingRun.Status.RUNNING, planned=planned, started_at=timezone.now()
        )
    if not started:
        return planned
    enqueue_claimable(run_id=run.pk)
    run_finalise(run_id=run.pk)
    return planned


def _plan_regrade(run: GradingRun, fixed: tuple[Any, ...]) -> None:
    """Plan a re-grade: one row per grade the source version has of the campaign's items, the
    same candidates and the same pairs in the same orders."""
    version_id = run.grader_version_id
    source = Grade.objects.filter(grader_version_id=run.regrade_of_id)
    items = (
        (
            Grade.Kind.CANDIDATE,
            source.filter(kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign_id=run.campaign_id)
            .order_by("candidate_id")
            .values_list("candidate_id", "order"),
        ),
        (
            Grade.Kind.PAIR,
            source.filter(kind=Grade.Kind.PAIR, pair__campaign_id=run.campaign_id)
            .order_by("pair_id", "order")
            .values_list("pair_id", "order"),
        ),
    )
    for kind_choice, graded in items:
        kind = kind_choice.value  # the plain string: rows go to the driver as they are
        if (kind == "candidate" and not run.candidates) or (kind == "pair" and not run.pairs):
            continue
        rows: list[tuple[Any, ...]] = []
        for item_id, order in graded.iterator(chunk_size=PLAN_BATCH):
            key = planned_key(version_id=version_id, kind=kind, item_id=item_id, order=order)
            if kind == "candidate":
                rows.append((run.pk, kind, item_id, None, "", key, *fixed))
            else:
                rows.append((run.pk, kind, None, item_id, order, key, *fixed))
            if len(rows) >= PLAN_BATCH:
                _planned_insert(rows)
                rows = []
        _planned_insert(rows)


_PLANNED_COLUMNS = (
    *("run_id", "kind", "candidate_id", "pair_id", "order", "idempotency_key"),
    *("status", "attempts", "error_kind", "error", "updated_at"),
)


def _planned_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert planned rows with one ``executemany``, without building model instances.

    A key planned before (redelivered, or by an earlier run of the same grader version) is
    skipped (``ON CONFLICT DO NOTHING``): that grade exists or is on its way.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(GradingTask._meta.db_table)
    columns = ", ".join(quote(column) for column in _PLANNED_COLUMNS)
    values = ", ".join(["%s"] * len(_PLANNED_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            # Only quoted names and placeholders are formatted in; values are bound.
            f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING",  # noqa: S608
            rows,
        )


def run_finalise(*, run_id: int) -> str:
    """Close a running run whose every planned grade is done or failed (conditional UPDATE)."""
    counted_out = GradingRun.objects.filter(
        pk=run_id, status=GradingRun.Status.RUNNING, planned__lte=F("graded") + F("failed")
    ).exists()
    if not counted_out:
        return GradingRun.objects.values_list("status", flat=True).get(pk=run_id)
    open_rows = GradingTask.objects.filter(
        run_id=run_id, status__in=(GradingTask.Status.PENDING, GradingTask.Status.RUNNING)
    )
    if open_rows.exists():
        return GradingRun.objects.values_list("status", flat=True).get(pk=run_id)
    run = GradingRun.objects.get(pk=run_id)
    if run.status != GradingRun.Status.RUNNING:
        return run.status
    status = (
        GradingRun.Status.FAILED if run.failed and not run.graded else GradingRun.Status.COMPLETED
    )
    error = f"{run.failed} of {run.planned} planned grades failed; see the reasons per item."
    GradingRun.objects.filter(pk=run_id, status=GradingRun.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), error=error if run.failed else ""
    )
    return status


@transaction.atomic
def run_cancel(*, run: GradingRun) -> GradingRun:
    """Stop a run: its pending grades are cancelled; calls already in flight finish."""
    changed = GradingRun.objects.filter(
        pk=run.pk, status__in=(GradingRun.Status.QUEUED, GradingRun.Status.RUNNING)
    ).update(status=GradingRun.Status.CANCELLED, finished_at=timezone.now())
    if not changed:
        raise ValidationError("Only a queued or running run can be cancelled.")
    GradingTask.objects.filter(run=run, status=GradingTask.Status.PENDING).update(
        status=GradingTask.Status.CANCELLED
    )
    run.refresh_from_db()
    return run


def run_resume(*, run: GradingRun) -> GradingRun:
    """Resume a cancelled run, or retry the failed grades of a finished one."""
    with transaction.atomic():
        locked = GradingRun.objects.select_for_update().get(pk=run.pk)
        if locked.is_active:
            raise ValidationError("The run is still going.")
        if locked.started_at is None:
            # Cancelled before planning: plan it now.
            GradingRun.objects.filter(pk=run.pk).update(
                status=GradingRun.Status.QUEUED, finished_at=None
            )
            transaction.on_commit(lambda: enqueue_plan(run.pk))
            run.refresh_from_db()
            return run
        failed_count = GradingTask.objects.filter(run=run, status=GradingTask.Status.FAILED).update(
            status=GradingTask.Status.PENDING, attempts=0, available_at=None
        )
        GradingTask.objects.filter(run=run, status=GradingTask.Status.CANCELLED).update(
            status=GradingTask.Status.PENDING, available_at=None
        )
        GradingRun.objects.filter(pk=run.pk).update(
            status=GradingRun.Status.RUNNING,
            failed=F("failed") - failed_count,
            finished_at=None,
            error="",
        )
        transaction.on_commit(lambda: enqueue_claimable(run_id=run.pk))
        transaction.on_commit(lambda: run_finalise(run_id=run.pk))
    run.refresh_from_db()
    return run


def run_recover(*, run_id: int | None = None, stall_seconds: float | None = None) -> dict[str, int]:
    """The sweep: send again the work the broker or a dead worker lost; finalise finished runs.

    As for generation runs (see ``labeling.generation.runs.run_recover``): a running row whose
    lease expired goes back to pending and is sent again; a run without progress for
    ``stall_seconds`` (default: one lease) has its pending rows sent again, at most once per
    period whichever worker sweeps (a conditional update of ``swept_at``); a queued run never
    planned is planned again; a run with nothing left open is finalised.
    """
    now = timezone.now()
    runs = GradingRun.objects.filter(
        status__in=(GradingRun.Status.QUEUED, GradingRun.Status.RUNNING)
    ).select_related("grader_version__endpoint")
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    figures = {"runs": 0, "expired": 0, "resent": 0, "planned": 0, "finalised": 0}
    for run in runs:
        figures["runs"] += 1
        lease = run_lease_seconds(run.grader_version)
        stall = timedelta(seconds=lease if stall_seconds is None else stall_seconds)
        if run.status == GradingRun.Status.QUEUED:
            if run.created_at < now - stall and sweep_claimed(run, now, stall):
                enqueue_plan(run.pk)
                figures["planned"] += 1
            continue
        expired_ids = list(
            GradingTask.objects.filter(
                run=run, status=GradingTask.Status.RUNNING, lease_until__lt=now
            ).values_list("id", flat=True)
        )
        if expired_ids:
            GradingTask.objects.filter(
                pk__in=expired_ids, status=GradingTask.Status.RUNNING, lease_until__lt=now
            ).update(
                status=GradingTask.Status.PENDING,
                lease_until=None,
                available_at=None,
                updated_at=now,
            )
            figures["expired"] += enqueue_ids(run_id=run.pk, ids=expired_ids)
        last_change = GradingTask.objects.filter(run=run).aggregate(last=Max("updated_at"))["last"]
        stalled = last_change is None or last_change < now - stall
        if stalled and sweep_claimed(run, now, stall):
            stale = (
                GradingTask.objects.filter(run=run, status=GradingTask.Status.PENDING)
                .filter(Q(available_at__isnull=True) | Q(available_at__lte=now))
                .exclude(pk__in=expired_ids)
                .order_by("id")
                .values_list("id", flat=True)
            )
            figures["resent"] += enqueue_ids(run_id=run.pk, ids=stale.iterator())
        if run_finalise(run_id=run.pk) != GradingRun.Status.RUNNING:
            figures["finalised"] += 1
    return figures
