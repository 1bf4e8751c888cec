"""The run machinery generation and grading share: a run of planned rows, its lifecycle
(finalise, cancel, resume) and the sweep that sends lost work again.

A run plans one row per thing to make (a candidate; a grade) under a unique idempotency key, and
its feature's dispatch sends the rows to the workers in batches; a worker claims a row under a
lease, makes the thing and marks the row done or failed. The database, not the broker, is the
record of what is left: a worker killed at any point leaves a pending row, or a running row
whose lease expires, and the sweep (:meth:`RunKind.recover`, run by every worker, see
config/sweeper.py) sends those again. Each feature describes its run with a :class:`RunKind`.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from .models.runs import PlannedRow, PlannedRowStatus, PlannedRun, RunStatus

PLAN_BATCH = 2000
"""Rows read (and planned) per round trip while planning or sending again a large run."""

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
FLUSH_SECONDS = 0.5
"""How often a batch stores the results of the calls that finished while others still run."""

Item = TypeVar("Item")
OPEN_ROWS = (PlannedRowStatus.PENDING, PlannedRowStatus.RUNNING)


def sweep_claimed(run: models.Model, now: datetime, stall: timedelta) -> bool:
    """Whether this sweep is the one to send a run's stalled work again: a conditional UPDATE
    of its ``swept_at``, so one sweep per stall period gets through, whichever worker runs it."""
    return bool(
        type(run)
        ._default_manager.filter(pk=run.pk)
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=now - stall))
        .update(swept_at=now)
    )


def planned_insert(
    row_model: type[PlannedRow], columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert planned rows with one ``executemany``, without building model instances.

    A key planned before (by this run, a redelivered plan, or an earlier run of the same work)
    is skipped (``ON CONFLICT DO NOTHING``): that thing exists or is on its way.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(row_model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    values = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            # Only quoted names and placeholders are formatted in; values are bound.
            f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING",  # noqa: S608
            rows,
        )


def calls_at_once(
    items: Sequence[Item],
    *,
    call: Callable[[Item], None],
    store: Callable[[list[Item]], Mapping[str, int]],
    stops: Mapping[int, threading.Event],
    run_model: type[PlannedRun],
    thread_name_prefix: str,
) -> Counter[str]:
    """Make every item's call at once, a thread each, and store the finished ones every
    ``FLUSH_SECONDS`` as they come, so a slow call does not hold back the others' results.
    While calls are still running, a run cancelled meanwhile has its ``stops`` event set (keyed
    by run id), so none of its calls starts a retry or another sample. Returns what ``store``
    counted."""
    figures: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix=thread_name_prefix) as pool:
        futures = {pool.submit(call, item): item for item in items}
        waiting: set[Future[None]] = set(futures)
        while waiting:
            finished, waiting = wait(waiting, timeout=FLUSH_SECONDS)
            ready = [futures[future] for future in finished]
            if ready:
                figures.update(store(ready))
            if waiting:
                active = set(
                    run_model._default_manager.filter(
                        pk__in=stops, status=RunStatus.RUNNING
                    ).values_list("pk", flat=True)
                )
                for run_id, stop in stops.items():
                    if run_id not in active:
                        stop.set()
    return figures


def run_progress(run: PlannedRun, row_model: type[PlannedRow], made: int) -> dict[str, Any]:
    """What a run's page shows of any run: finished (``made`` plus failed) of planned, rate and
    ETA, rows by status, and errors by kind (each row's last error, so errors a retry got past
    count too: they say what the endpoint did)."""
    # Any: the abstract row model has no ``run``; each concrete one does.
    manager: Any = row_model._default_manager
    rows = manager.filter(run_id=run.pk).order_by()
    by_status = dict(
        rows.values_list("status").annotate(total=Count("pk")).values_list("status", "total")
    )
    errors = list(
        rows.exclude(error_kind="")
        .values("error_kind")
        .annotate(total=Count("pk"))
        .order_by("-total", "error_kind")
    )
    finished = made + run.failed
    planned = run.planned
    percent = 100.0 * finished / planned if planned else (100.0 if not run.is_active else 0.0)
    end = run.finished_at or timezone.now()
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    rate = finished / elapsed if elapsed > 0 else 0.0
    remaining = max(planned - finished, 0)
    return {
        "by_status": {status: by_status.get(status, 0) for status in PlannedRowStatus.values},
        "finished": finished,
        "remaining": remaining,
        "percent": percent,
        "elapsed_seconds": elapsed,
        "rate_per_second": rate,
        "eta_seconds": remaining / rate if rate > 0 and run.is_active else None,
        "errors_by_kind": errors,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
    }


@dataclass(frozen=True)
class RunKind:
    """How one kind of run plugs into the shared lifecycle."""

    run_model: type[PlannedRun]
    row_model: type[PlannedRow]
    made_counter: str
    """The run's counter of rows made (``succeeded``, ``graded``)."""
    failure_summary: str
    """The run's error when rows failed, formatted with ``failed`` and ``planned``."""
    send_columns: tuple[str, ...]
    """What the feature's dispatch needs of each row it sends, the row's id first."""
    send_rows: Callable[[int, Iterable[tuple[Any, ...]]], int]
    """Send these rows of run ``run_id`` to the workers; returns how many."""
    enqueue_plan: Callable[[int], None]
    lease_seconds: Callable[[Any], float]
    """How long a claim on a row of this run lasts."""
    run_related: tuple[str, ...] = ()
    """What ``lease_seconds`` reads of the run, fetched with it."""
    on_closed: Callable[[Any], None] | None = None
    """Called with the run once finalising has closed it (once per run, whichever worker)."""

    def _runs(self) -> models.QuerySet[Any]:
        return self.run_model._default_manager.all()

    def _rows(self) -> models.QuerySet[Any]:
        return self.row_model._default_manager.all()

    def send_pending(self, *, run_id: int) -> int:
        """Send every pending row of a run to the workers, in batches."""
        rows = (
            self._rows()
            .filter(run_id=run_id, status=PlannedRowStatus.PENDING)
            .order_by("id")
            .values_list(*self.send_columns)
            .iterator(chunk_size=PLAN_BATCH)
        )
        return self.send_rows(run_id, rows)

    def finalise(self, *, run_id: int) -> str:
        """Close a running run whose every planned row is done or failed (a conditional UPDATE,
        so of several workers finishing at once one closes it)."""
        runs = self._runs()
        counted_out = runs.filter(
            pk=run_id,
            status=RunStatus.RUNNING,
            planned__lte=F(self.made_counter) + F("failed"),
        ).exists()
        if not counted_out:
            # The counters say work is left (the common case): one cheap query, nothing to do.
            return str(runs.values_list("status", flat=True).get(pk=run_id))
        if self._rows().filter(run_id=run_id, status__in=OPEN_ROWS).exists():
            return str(runs.values_list("status", flat=True).get(pk=run_id))
        run = runs.get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return str(run.status)
        made = getattr(run, self.made_counter)
        status = RunStatus.FAILED if run.failed and not made else RunStatus.COMPLETED
        error = (
            self.failure_summary.format(failed=run.failed, planned=run.planned)
            if run.failed
            else ""
        )
        closed = runs.filter(pk=run_id, status=RunStatus.RUNNING).update(
            status=status, finished_at=timezone.now(), error=error
        )
        if closed and self.on_closed is not None:
            self.on_closed(run)
        return str(status)

    def cancel(self, *, run: PlannedRun) -> None:
        """Stop a run: its pending rows are cancelled; calls already in flight finish."""
        with transaction.atomic():
            changed = (
                self._runs()
                .filter(pk=run.pk, status__in=ACTIVE)
                .update(status=RunStatus.CANCELLED, finished_at=timezone.now())
            )
            if not changed:
                raise ValidationError("Only a queued or running run can be cancelled.")
            self._rows().filter(run_id=run.pk, status=PlannedRowStatus.PENDING).update(
                status=PlannedRowStatus.CANCELLED
            )
        run.refresh_from_db()

    def resume(self, *, run: PlannedRun) -> None:
        """Resume a cancelled run, or retry the failed rows of a finished one."""
        with transaction.atomic():
            locked = self._runs().select_for_update().get(pk=run.pk)
            if locked.status in ACTIVE:
                raise ValidationError("The run is still going.")
            if locked.started_at is None:
                # Cancelled before planning: plan it now.
                self._runs().filter(pk=run.pk).update(status=RunStatus.QUEUED, finished_at=None)
                transaction.on_commit(lambda: self.enqueue_plan(run.pk))
            else:
                rows = self._rows().filter(run_id=run.pk)
                failed_count = rows.filter(status=PlannedRowStatus.FAILED).update(
                    status=PlannedRowStatus.PENDING, attempts=0, available_at=None
                )
                rows.filter(status=PlannedRowStatus.CANCELLED).update(
                    status=PlannedRowStatus.PENDING, available_at=None
                )
                self._runs().filter(pk=run.pk).update(
                    status=RunStatus.RUNNING,
                    failed=F("failed") - failed_count,
                    finished_at=None,
                    error="",
                )
                transaction.on_commit(lambda: self.send_pending(run_id=run.pk))
                transaction.on_commit(lambda: self.finalise(run_id=run.pk))
        run.refresh_from_db()

    def recover(
        self, *, run_id: int | None = None, stall_seconds: float | None = None
    ) -> dict[str, int]:
        """The sweep: send again the work the broker or a dead worker lost; finalise finished runs.

        - a running row whose lease expired was claimed by a worker that died (or hung past its
          timeout): back to pending, sent again;
        - pending rows of a run that has made no progress for ``stall_seconds`` (default: one
          lease) may have lost their messages (a broker restarted without persistence, a message
          held unacknowledged by a worker that lost its connection): sent again. A duplicate
          message is harmless (the executor's claim lets one delivery through);
        - a queued run not planned within ``stall_seconds`` lost its plan message: sent again;
        - a running run with nothing left open is finalised.

        A run's stalled work is sent again at most once per ``stall_seconds``, however many
        workers sweep: the conditional update of ``swept_at`` lets one sweep through.
        """
        now = timezone.now()
        runs = self._runs().filter(status__in=ACTIVE).select_related(*self.run_related)
        if run_id is not None:
            runs = runs.filter(pk=run_id)
        figures = {"runs": 0, "expired": 0, "resent": 0, "planned": 0, "finalised": 0}
        for run in runs:
            figures["runs"] += 1
            lease = self.lease_seconds(run)
            stall = timedelta(seconds=lease if stall_seconds is None else stall_seconds)
            if run.status == RunStatus.QUEUED:
                if run.created_at < now - stall and sweep_claimed(run, now, stall):
                    self.enqueue_plan(run.pk)
                    figures["planned"] += 1
                continue
            rows = self._rows().filter(run_id=run.pk)
            expired = list(
                rows.filter(status=PlannedRowStatus.RUNNING, lease_until__lt=now).values_list(
                    *self.send_columns
                )
            )
            expired_ids = [row[0] for row in expired]
            if expired_ids:
                rows.filter(
                    pk__in=expired_ids, status=PlannedRowStatus.RUNNING, lease_until__lt=now
                ).update(
                    status=PlannedRowStatus.PENDING,
                    lease_until=None,
                    available_at=None,
                    updated_at=now,
                )
                figures["expired"] += self.send_rows(run.pk, expired)
            last_change = rows.aggregate(last=Max("updated_at"))["last"]
            stalled = last_change is None or last_change < now - stall
            if stalled and sweep_claimed(run, now, stall):
                stale = (
                    rows.filter(status=PlannedRowStatus.PENDING)
                    .filter(Q(available_at__isnull=True) | Q(available_at__lte=now))
                    .exclude(pk__in=expired_ids)
                    .order_by("id")
                    .values_list(*self.send_columns)
                )
                figures["resent"] += self.send_rows(run.pk, stale.iterator())
            if self.finalise(run_id=run.pk) != RunStatus.RUNNING:
                figures["finalised"] += 1
        return figures
