"""Generation runs: create and plan; finalise, cancel, resume and the sweep that recovers lost
work are the shared run machinery's (``labeling.planned_runs``).

A run plans one ``GenerationTask`` row (a planned candidate) per (prompt, endpoint, style,
sample) under a unique idempotency key; :mod:`.dispatch` sends the rows to the workers and
:mod:`.executor` turns each into a candidate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from ..broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from ..models import Campaign, GenerationRun, GenerationTask, ModelEndpoint, Prompt
from ..planned_runs import PLAN_BATCH, RunKind, planned_insert
from .dispatch import enqueue_rows
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
                planned_insert(GenerationTask, _PLANNED_COLUMNS, rows)
                rows = []
        if rows:
            planned_insert(GenerationTask, _PLANNED_COLUMNS, rows)
        planned = GenerationTask.objects.filter(run=run).count()
        started = GenerationRun.objects.filter(
            pk=run.pk, status=GenerationRun.Status.QUEUED
        ).update(status=GenerationRun.Status.RUNNING, planned=planned, started_at=timezone.now())
    if not started:
        return planned
    GENERATION_RUNS.send_pending(run_id=run.pk)
    GENERATION_RUNS.finalise(run_id=run.pk)
    return planned


_PLANNED_COLUMNS = (
    *("run_id", "prompt_id", "endpoint_id", "style", "sample_index", "seed", "idempotency_key"),
    *("status", "attempts", "error_kind", "error", "updated_at"),
)


def _run_lease_seconds(run: GenerationRun) -> float:
    """A run's rows are claimed for the longest lease of its endpoints."""
    return max((lease_seconds(endpoint) for endpoint in run.endpoints.all()), default=30.0)


GENERATION_RUNS = RunKind(
    run_model=GenerationRun,
    row_model=GenerationTask,
    made_counter="succeeded",
    failure_summary="{failed} of {planned} planned candidates failed; see the reasons per prompt.",
    send_columns=("id", "endpoint_id"),
    send_rows=lambda _run_id, rows: enqueue_rows(rows),
    enqueue_plan=enqueue_plan,
    lease_seconds=_run_lease_seconds,
)


def run_finalise(*, run_id: int) -> str:
    """Close a running run whose every planned candidate is done or failed."""
    return GENERATION_RUNS.finalise(run_id=run_id)


def run_cancel(*, run: GenerationRun) -> GenerationRun:
    """Stop a run: its pending candidates are cancelled; calls already in flight finish."""
    GENERATION_RUNS.cancel(run=run)
    return run


def run_resume(*, run: GenerationRun) -> GenerationRun:
    """Resume a cancelled run, or retry the failed candidates of a finished one."""
    GENERATION_RUNS.resume(run=run)
    return run


def run_recover(*, run_id: int | None = None, stall_seconds: float | None = None) -> dict[str, int]:
    """The sweep over generation runs (see :meth:`RunKind.recover`). Every worker runs it every
    few seconds (config/sweeper.py), so nobody presses a button."""
    return GENERATION_RUNS.recover(run_id=run_id, stall_seconds=stall_seconds)
