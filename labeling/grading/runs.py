"""Grading runs: create and plan; finalise, cancel, resume and the sweep that recovers lost
work are the shared run machinery's (``labeling.planned_runs``), as for generation runs.

A run plans one ``GradingTask`` row (a planned grade) per candidate, and per pair and order (a
pair is graded with A shown first and with B shown first, so position inconsistency is
measured), under a unique idempotency key; :mod:`.dispatch` sends the rows to the workers and
:mod:`.executor` turns each into a grade.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from ..broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from ..models import Campaign, Candidate, Grade, GraderVersion, GradingRun, GradingTask, Pair
from ..planned_runs import PLAN_BATCH, RunKind, planned_insert
from ..routing.services import campaigns_routed_by, routing_schedule
from . import calibration
from .dispatch import enqueue_ids
from .tasks import enqueue_plan

logger = logging.getLogger(__name__)

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
                    planned_insert(GradingTask, _PLANNED_COLUMNS, rows)
                    rows = []
            planned_insert(GradingTask, _PLANNED_COLUMNS, rows)
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
                    planned_insert(GradingTask, _PLANNED_COLUMNS, rows)
                    rows = []
            planned_insert(GradingTask, _PLANNED_COLUMNS, rows)
        planned = GradingTask.objects.filter(run=run).count()
        started = GradingRun.objects.filter(pk=run.pk, status=GradingRun.Status.QUEUED).update(
            status=GradingRun.Status.RUNNING, planned=planned, started_at=timezone.now()
        )
    if not started:
        return planned
    GRADING_RUNS.send_pending(run_id=run.pk)
    GRADING_RUNS.finalise(run_id=run.pk)
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
                planned_insert(GradingTask, _PLANNED_COLUMNS, rows)
                rows = []
        planned_insert(GradingTask, _PLANNED_COLUMNS, rows)


_PLANNED_COLUMNS = (
    *("run_id", "kind", "candidate_id", "pair_id", "order", "idempotency_key"),
    *("status", "attempts", "error_kind", "error", "updated_at"),
)


def _run_closed(run: GradingRun) -> None:
    """New grades: a large campaign's calibration snapshot is recomputed, and a campaign routed
    by this run's grader has its pairs' ranks recomputed (once per run)."""
    if run.graded and campaigns_routed_by(
        grader_version=run.grader_version, campaign_id=run.campaign_id
    ):
        routing_schedule(campaign_id=run.campaign_id)
    if not calibration.served_from_snapshot(run.campaign):
        return
    try:
        calibration.calibration_refresh_request(campaign=run.campaign)
    except BROKER_ERRORS:
        logger.warning("grading run %s: calibration recompute not enqueued", run.pk)


GRADING_RUNS = RunKind(
    run_model=GradingRun,
    row_model=GradingTask,
    made_counter="graded",
    failure_summary="{failed} of {planned} planned grades failed; see the reasons per item.",
    send_columns=("id",),
    send_rows=lambda run_id, rows: enqueue_ids(run_id=run_id, ids=(row[0] for row in rows)),
    enqueue_plan=enqueue_plan,
    lease_seconds=lambda run: run_lease_seconds(run.grader_version),
    run_related=("grader_version__endpoint",),
    on_closed=_run_closed,
)


def run_finalise(*, run_id: int) -> str:
    """Close a running run whose every planned grade is done or failed."""
    return GRADING_RUNS.finalise(run_id=run_id)


def run_cancel(*, run: GradingRun) -> GradingRun:
    """Stop a run: its pending grades are cancelled; calls already in flight finish."""
    GRADING_RUNS.cancel(run=run)
    return run


def run_resume(*, run: GradingRun) -> GradingRun:
    """Resume a cancelled run, or retry the failed grades of a finished one."""
    GRADING_RUNS.resume(run=run)
    return run


def run_recover(*, run_id: int | None = None, stall_seconds: float | None = None) -> dict[str, int]:
    """The sweep over grading runs (see :meth:`RunKind.recover`)."""
    return GRADING_RUNS.recover(run_id=run_id, stall_seconds=stall_seconds)
