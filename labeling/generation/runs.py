"""Generation runs: create, plan, finalise, cancel, resume, and the sweep that recovers lost work.

The database, not the broker, is the record of what is left to do. A run plans one
``GenerationTask`` row (a planned candidate) per (prompt, endpoint, style, sample) under a unique
idempotency key; :mod:`.dispatch` sends the rows to the workers and :mod:`.executor` turns each
into a candidate. A worker killed at any point leaves either a pending row or a running row whose
lease expires, and :func:`run_recover` sends those again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from ..broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from ..models import Campaign, GenerationRun, GenerationTask, ModelEndpoint, Prompt
from ..sweeps import sweep_claimed
from .dispatch import PLAN_BATCH, enqueue_claimable, enqueue_rows
from .endpoints import lease_seconds
from .styles import Style
from .tasks import enqueue_plan


def planned_key(
    *, prompt_id: int, endpoint_id: int, model: str, style: str, sample: int, seed: int
) -> str:
    """The idempotency key of one planned candidate (also the candidate's own key)."""
    raw = f"gen|{prompt_id}|{endpoint_id}|{model}|{style}|{sample}|{seed}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _check_styles(styles: Sequence[Style]) -> list[dict[str, str]]:
    if not styles:
        raise ValidationError({"styles": "Choose at least one system-prompt style."})
    names = [style["name"].strip() for style in styles]
    if len(set(names)) != len(names) or not all(names):
        raise ValidationError({"styles": "Style names must be present and distinct."})
    for style in styles:
        if len(style["system_prompt"]) > 20_000:
            raise ValidationError({"styles": "A system prompt is at most 20,000 characters."})
    return [{"name": s["name"].strip(), "system_prompt": s["system_prompt"]} for s in styles]


def run_create(
    *,
    campaign: Campaign,
    endpoints: Iterable[ModelEndpoint],
    styles: Sequence[Style],
    samples_per_prompt: int = 1,
    temperature: float = 0.7,
    max_tokens: int = 512,
    seed: int = 0,
    prompt_limit: int | None = None,
    created_by: AbstractBaseUser | None = None,
) -> GenerationRun:
    """Create a run; once the transaction commits, a worker plans its candidates and fans out.

    Raises :class:`BrokerUnavailable` when the plan cannot be enqueued; the run is removed then.
    """
    endpoint_list = list(endpoints)
    if not endpoint_list:
        raise ValidationError({"endpoints": "Choose at least one model endpoint."})
    if not 1 <= samples_per_prompt <= 16:
        raise ValidationError({"samples_per_prompt": "must be between 1 and 16"})
    if not 0 <= temperature <= 2:
        raise ValidationError({"temperature": "must be between 0 and 2"})
    if not 1 <= max_tokens <= 32_768:
        raise ValidationError({"max_tokens": "must be between 1 and 32768"})
    if prompt_limit is not None and prompt_limit < 1:
        raise ValidationError({"prompt_limit": "must be at least 1"})
    if campaign.status == Campaign.Status.CLOSED:
        raise ValidationError("The campaign is closed.")
    checked_styles = _check_styles(styles)
    created: list[GenerationRun] = []
    try:
        with transaction.atomic():
            run = GenerationRun.objects.create(
                campaign=campaign,
                styles=checked_styles,
                samples_per_prompt=samples_per_prompt,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                prompt_limit=prompt_limit,
                created_by=created_by if created_by is not None and created_by.pk else None,  # type: ignore[misc]
            )
            created.append(run)
            run.endpoints.set(endpoint_list)
            # Not robust, so a publish error leaves the commit (below) and the run is removed.
            transaction.on_commit(lambda: enqueue_plan(run.pk, retry_policy=QUICK_RETRY))
    except BROKER_ERRORS as error:
        for done in created:
            _run_remove(done)
        raise BrokerUnavailable() from error
    return run


def _run_remove(run: GenerationRun) -> None:
    """Remove a run that never reached the broker: its endpoints link and any planned rows."""
    with transaction.atomic():
        GenerationTask.objects.filter(run_id=run.pk).delete()
        run.endpoints.clear()
        GenerationRun.objects.filter(pk=run.pk).delete()


def active_run_ids() -> list[int]:
    """Runs that are queued or running."""
    return list(
        GenerationRun.objects.filter(
            status__in=(GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING)
        ).values_list("pk", flat=True)
    )


def run_is_active(*, run_id: int) -> bool:
    return GenerationRun.objects.filter(
        pk=run_id, status__in=(GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING)
    ).exists()


def run_plan(*, run_id: int) -> int:
    """Plan a queued run's candidates (idempotent) and send them to the workers. Returns planned.

    A run that no longer exists plans nothing: ``run_create`` removes a run whose messages the
    broker refused, and a plan message sent before the refusal may still arrive.
    """
    run = GenerationRun.objects.filter(pk=run_id).first()
    if run is None:
        return 0
    if run.status != GenerationRun.Status.QUEUED:
        return run.planned
    endpoints = list(run.endpoints.all())
    prompts = Prompt.objects.filter(campaign_id=run.campaign_id).order_by("id")
    if run.prompt_limit:
        prompts = prompts[: run.prompt_limit]
    rows: list[tuple[Any, ...]] = []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    fixed = (GenerationTask.Status.PENDING, 0, "", "", now)  # status, attempts, errors, updated
    with transaction.atomic():
        for prompt_id in prompts.values_list("id", flat=True).iterator(chunk_size=PLAN_BATCH):
            for endpoint in endpoints:
                for style in run.styles:
                    for sample in range(run.samples_per_prompt):
                        seed = run.seed + sample
                        name = style["name"]
                        key = planned_key(
                            prompt_id=prompt_id,
                            endpoint_id=endpoint.pk,
                            model=endpoint.model,
                            style=name,
                            sample=sample,
                            seed=seed,
                        )
                        row = (run.pk, prompt_id, endpoint.pk, name, sample, seed, key)
                        rows.append((*row, *fixed))
            if len(rows) >= PLAN_BATCH:
                _planned_insert(rows)
                rows = []
        if rows:
            _planned_insert(rows)
        planned = GenerationTask.objects.filter(run=run).count()
        started = GenerationRun.objects.filter(
            pk=run.pk, status=GenerationRun.Status.QUEUED
        ).update(status=GenerationRun.Status.RUNNING, planned=planned, started_at=timezone.now())
    if not started:
        return planned
    enqueue_claimable(run_id=run.pk)
    run_finalise(run_id=run.pk)
    return planned


_PLANNED_COLUMNS = (
    *("run_id", "prompt_id", "endpoint_id", "style", "sample_index", "seed", "idempotency_key"),
    *("status", "attempts", "error_kind", "error", "updated_at"),
)


def _planned_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert planned rows with one ``executemany``, without building model instances.

    A key planned before (by this run, redelivered, or an earlier run with the same settings)
    is skipped (``ON CONFLICT DO NOTHING``): that candidate exists or is on its way.
    """
    quote = connection.ops.quote_name
    table = quote(GenerationTask._meta.db_table)
    columns = ", ".join(quote(column) for column in _PLANNED_COLUMNS)
    values = ", ".join(["%s"] * len(_PLANNED_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            # Only quoted names and placeholders are formatted in; values are bound.
            f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING",  # noqa: S608
            rows,
        )


def run_finalise(*, run_id: int) -> str:
    """Close a running run whose every planned candidate is done or failed (conditional UPDATE)."""
    counted_out = GenerationRun.objects.filter(
        pk=run_id,
        status=GenerationRun.Status.RUNNING,
        planned__lte=F("succeeded") + F("failed"),
    ).exists()
    if not counted_out:
        # The counters say work is left (the common case): one cheap query, nothing to do.
        return GenerationRun.objects.values_list("status", flat=True).get(pk=run_id)
    open_rows = GenerationTask.objects.filter(
        run_id=run_id, status__in=(GenerationTask.Status.PENDING, GenerationTask.Status.RUNNING)
    )
    if open_rows.exists():
        return GenerationRun.objects.values_list("status", flat=True).get(pk=run_id)
    run = GenerationRun.objects.get(pk=run_id)
    if run.status != GenerationRun.Status.RUNNING:
        return run.status
    status = (
        GenerationRun.Status.FAILED
        if run.failed and not run.succeeded
        else GenerationRun.Status.COMPLETED
    )
    error = ""
    if run.failed:
        error = (
            f"{run.failed} of {run.planned} planned candidates failed; see the reasons per prompt."
        )
    GenerationRun.objects.filter(pk=run_id, status=GenerationRun.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), error=error
    )
    return status


@transaction.atomic
def run_cancel(*, run: GenerationRun) -> GenerationRun:
    """Stop a run: its pending candidates are cancelled; calls already in flight finish."""
    changed = GenerationRun.objects.filter(
        pk=run.pk, status__in=(GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING)
    ).update(status=GenerationRun.Status.CANCELLED, finished_at=timezone.now())
    if not changed:
        raise ValidationError("Only a queued or running run can be cancelled.")
    GenerationTask.objects.filter(run=run, status=GenerationTask.Status.PENDING).update(
        status=GenerationTask.Status.CANCELLED
    )
    run.refresh_from_db()
    return run


def run_resume(*, run: GenerationRun) -> GenerationRun:
    """Resume a cancelled run, or retry the failed candidates of a finished one."""
    with transaction.atomic():
        locked = GenerationRun.objects.select_for_update().get(pk=run.pk)
        if locked.status in (GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING):
            raise ValidationError("The run is still going.")
        if locked.started_at is None:
            # Cancelled before planning: plan it now.
            GenerationRun.objects.filter(pk=run.pk).update(
                status=GenerationRun.Status.QUEUED, finished_at=None
            )
            transaction.on_commit(lambda: enqueue_plan(run.pk))
            run.refresh_from_db()
            return run
        failed = GenerationTask.objects.filter(run=run, status=GenerationTask.Status.FAILED)
        failed_count = failed.update(
            status=GenerationTask.Status.PENDING, attempts=0, available_at=None
        )
        GenerationTask.objects.filter(run=run, status=GenerationTask.Status.CANCELLED).update(
            status=GenerationTask.Status.PENDING, available_at=None
        )
        GenerationRun.objects.filter(pk=run.pk).update(
            status=GenerationRun.Status.RUNNING,
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

    Every worker runs it every few seconds (config/sweeper.py), so nobody presses a button:

    - a running row whose lease expired was claimed by a worker that died (or hung past its
      timeout): back to pending, sent again;
    - pending rows of a run that has made no progress for ``stall_seconds`` (default: one
      lease) may have lost their messages (a broker restarted without persistence, a message
      held unacknowledged by a worker that lost its connection): sent again. A duplicate
      message is harmless (the claim lets one delivery through);
    - a queued run not planned within ``stall_seconds`` lost its plan message: sent again;
    - a running run with nothing left open is finalised.

    A run's stalled work is sent again at most once per ``stall_seconds``, however many workers
    sweep: the conditional update of ``swept_at`` lets one sweep through.
    """
    now = timezone.now()
    runs = GenerationRun.objects.filter(
        status__in=(GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING)
    )
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    figures = {"runs": 0, "expired": 0, "resent": 0, "planned": 0, "finalised": 0}
    for run in runs:
        figures["runs"] += 1
        endpoints = list(run.endpoints.all())
        lease = max((lease_seconds(e) for e in endpoints), default=30.0)
        stall = timedelta(seconds=lease if stall_seconds is None else stall_seconds)
        if run.status == GenerationRun.Status.QUEUED:
            if run.created_at < now - stall and sweep_claimed(run, now, stall):
                enqueue_plan(run.pk)
                figures["planned"] += 1
            continue
        expired = list(
            GenerationTask.objects.filter(
                run=run, status=GenerationTask.Status.RUNNING, lease_until__lt=now
            ).values_list("id", "endpoint_id")
        )
        expired_ids = [planned_id for planned_id, _ in expired]
        if expired_ids:
            GenerationTask.objects.filter(
                pk__in=expired_ids, status=GenerationTask.Status.RUNNING, lease_until__lt=now
            ).update(
                status=GenerationTask.Status.PENDING,
                lease_until=None,
                available_at=None,
                updated_at=now,
            )
            figures["expired"] += enqueue_rows(expired)
        last_change = GenerationTask.objects.filter(run=run).aggregate(last=Max("updated_at"))[
            "last"
        ]
        stalled = last_change is None or last_change < now - stall
        if stalled and sweep_claimed(run, now, stall):
            stale = (
                GenerationTask.objects.filter(run=run, status=GenerationTask.Status.PENDING)
                .filter(Q(available_at__isnull=True) | Q(available_at__lte=now))
                .exclude(pk__in=expired_ids)
                .order_by("id")
                .values_list("id", "endpoint_id")
            )
            figures["resent"] += enqueue_rows(stale.iterator())
        if run_finalise(run_id=run.pk) != GenerationRun.Status.RUNNING:
            figures["finalised"] += 1
    return figures
