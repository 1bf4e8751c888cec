"""Writes for generation: endpoints, runs, and the life of one planned candidate.

The database, not the broker, is the record of what is left to do. A run plans one
``GenerationTask`` per (prompt, endpoint, style, sample) under a unique idempotency key; a
Celery task per row claims it with a conditional UPDATE (pending → running with a lease), calls
the endpoint, and stores the candidate under the same key in one transaction with the row's
``done`` mark and the run's counters. A second delivery finds nothing to claim; a worker killed
at any point leaves either a pending row or a running row whose lease expires, and
:func:`run_recover` sends those again.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from presentation.untrusted_text import stored_html

from ..models import Campaign, Candidate, GenerationRun, GenerationTask, ModelEndpoint, Prompt
from ..pairs import pairs_build_bulk
from .client import Answer, CallError, Completion, chat_parse, chat_send, endpoint_list_models
from .semaphore import SemaphoreTimeout, endpoint_slot
from .styles import Style

logger = logging.getLogger(__name__)

# Retries start quick (a 5xx or a dropped connection is usually gone a moment later) and slow
# down exponentially: waits of up to 0.25, 0.5, 1, 2, 4, 8, 16 s, about half a minute in all
# before a prompt is marked failed. A 429 waits what its Retry-After says instead.
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 60.0
PLAN_BATCH = 2000
ERROR_TEXT_LIMIT = 500
# Planned candidates per message (never more than the endpoint's concurrency limit): a worker
# runs a batch's calls at once, each holding a slot of the endpoint's semaphore, and writes the
# results in bulk. Larger batches cost fewer queries per candidate; smaller ones spread better.
BATCH_SIZE = 16
# While a batch's calls are still running, store the finished ones this often (seconds), and
# look whether the run was cancelled.
FLUSH_SECONDS = 0.5


# ------------------------------------------------------------------------------------------
# Endpoints (admins only — the views and API check the role)
# ------------------------------------------------------------------------------------------


def _check_env_name(api_key_env: str) -> str:
    name = api_key_env.strip()
    if name and not name.isidentifier():
        raise ValidationError(
            {
                "api_key_env": "Give the NAME of the environment variable that holds the key "
                "(letters, digits, underscores), never the key itself."
            }
        )
    return name


def endpoint_create(
    *,
    name: str,
    base_url: str,
    model: str,
    api_key_env: str = "",
    timeout_seconds: float = 60.0,
    concurrency_limit: int = 8,
) -> ModelEndpoint:
    """Register an OpenAI-compatible endpoint (its key stays in the environment)."""
    endpoint = ModelEndpoint(
        name=name.strip(),
        base_url=base_url.strip(),
        model=model.strip(),
        api_key_env=_check_env_name(api_key_env),
        timeout_seconds=timeout_seconds,
        concurrency_limit=concurrency_limit,
    )
    _validate_endpoint(endpoint)
    endpoint.save()
    return endpoint


def endpoint_update(*, endpoint: ModelEndpoint, **changes: Any) -> ModelEndpoint:
    """Change an endpoint's settings."""
    allowed = {"name", "base_url", "model", "api_key_env", "timeout_seconds", "concurrency_limit"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Unknown endpoint settings: {', '.join(sorted(unknown))}")
    if "api_key_env" in changes:
        changes["api_key_env"] = _check_env_name(changes["api_key_env"])
    for field, value in changes.items():
        setattr(endpoint, field, value)
    _validate_endpoint(endpoint)
    endpoint.save()
    return endpoint


def _validate_endpoint(endpoint: ModelEndpoint) -> None:
    if not 0 < endpoint.timeout_seconds <= 3600:
        raise ValidationError({"timeout_seconds": "must be between 0 and 3600 seconds"})
    if not 1 <= endpoint.concurrency_limit <= 1024:
        raise ValidationError({"concurrency_limit": "must be between 1 and 1024"})
    endpoint.full_clean()


def endpoint_test(*, endpoint: ModelEndpoint) -> list[str]:
    """List the endpoint's models; raises :class:`CallError` (detail truncated, key redacted)."""
    return endpoint_list_models(endpoint)


# ------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------


def task_key(
    *, prompt_id: int, endpoint_id: int, model: str, style: str, sample: int, seed: int
) -> str:
    """The idempotency key of one planned candidate (also the candidate's own key)."""
    raw = f"gen|{prompt_id}|{endpoint_id}|{model}|{style}|{sample}|{seed}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def lease_seconds(endpoint: ModelEndpoint) -> float:
    """How long a claim lasts: a slot wait and a call, each at most the timeout, plus margin."""
    return 2 * endpoint.timeout_seconds + 5.0


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


@transaction.atomic
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
    """Create a run; a worker plans its tasks and fans them out once the transaction commits."""
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
    run = GenerationRun.objects.create(
        campaign=campaign,
        styles=_check_styles(styles),
        samples_per_prompt=samples_per_prompt,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        prompt_limit=prompt_limit,
        created_by=created_by if created_by is not None and created_by.pk else None,  # type: ignore[misc]
    )
    run.endpoints.set(endpoint_list)
    from .tasks import enqueue_plan, enqueue_watch

    transaction.on_commit(lambda: enqueue_plan(run.pk))
    transaction.on_commit(lambda: enqueue_watch(run.pk))
    return run


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
    """Plan a queued run's tasks (idempotent) and send them to the workers. Returns planned."""
    run = GenerationRun.objects.get(pk=run_id)
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
                        key = task_key(
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
                _tasks_insert(rows)
                rows = []
        if rows:
            _tasks_insert(rows)
        planned = GenerationTask.objects.filter(run=run).count()
        started = GenerationRun.objects.filter(
            pk=run.pk, status=GenerationRun.Status.QUEUED
        ).update(status=GenerationRun.Status.RUNNING, planned=planned, started_at=timezone.now())
    if not started:
        return planned
    _enqueue_claimable(run_id=run.pk)
    run_finalise(run_id=run.pk)
    return planned


_PLANNED_COLUMNS = (
    *("run_id", "prompt_id", "endpoint_id", "style", "sample_index", "seed", "idempotency_key"),
    *("status", "attempts", "error_kind", "error", "updated_at"),
)


def _tasks_insert(rows: list[tuple[Any, ...]]) -> None:
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


def _enqueue_claimable(*, run_id: int) -> int:
    """Send every pending row of a run to the workers, in batches."""
    rows = (
        GenerationTask.objects.filter(run_id=run_id, status=GenerationTask.Status.PENDING)
        .order_by("id")
        .values_list("id", "endpoint_id")
        .iterator(chunk_size=PLAN_BATCH)
    )
    return _enqueue_rows(rows)


def _enqueue_tasks(tasks: Iterable[GenerationTask], countdown: float | None = None) -> int:
    return _enqueue_rows(((task.pk, task.endpoint_id) for task in tasks), countdown=countdown)


def batch_size(concurrency_limit: int) -> int:
    """How many planned candidates of an endpoint one message carries."""
    return max(1, min(BATCH_SIZE, concurrency_limit))


def _batches(rows: Iterable[tuple[int, int]]) -> Iterator[list[int]]:
    """Group (task id, endpoint id) rows into batches of one endpoint each."""
    limits = dict(ModelEndpoint.objects.values_list("pk", "concurrency_limit"))
    buckets: dict[int, list[int]] = {}
    for task_id, endpoint_id in rows:
        bucket = buckets.setdefault(endpoint_id, [])
        bucket.append(task_id)
        if len(bucket) >= batch_size(limits.get(endpoint_id, 1)):
            yield bucket
            buckets[endpoint_id] = []
    yield from (bucket for bucket in buckets.values() if bucket)


def _enqueue_rows(rows: Iterable[tuple[int, int]], countdown: float | None = None) -> int:
    from .tasks import enqueue_batches

    return enqueue_batches(_batches(rows), countdown=countdown)


def _claimable(now: Any) -> Q:
    pending_ready = Q(status=GenerationTask.Status.PENDING) & (
        Q(available_at__isnull=True) | Q(available_at__lte=now)
    )
    expired = Q(status=GenerationTask.Status.RUNNING, lease_until__lt=now)
    return pending_ready | expired


def backoff_seconds(attempt: int) -> float:
    """Capped exponential backoff with full jitter (attempt counts from 1)."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class _Item:
    """One claimed planned candidate while its batch runs, and what became of its call."""

    task: GenerationTask
    outcome: str = ""  # done · retry · busy · failed · stopped · lost
    completion: Completion | None = None
    error: CallError | None = None
    delay: float = 0.0


def task_execute(*, task_id: int) -> str:
    """Generate one planned candidate (a batch of one). Safe to run twice.

    Returns what happened: ``done``, ``retry``, ``failed``, ``skipped`` (nothing to claim).
    """
    figures = tasks_execute(task_ids=[task_id])
    for outcome in ("done", "failed", "retry", "cancelled"):
        if figures.get(outcome):
            return outcome
    return "skipped"


def tasks_execute(*, task_ids: Sequence[int]) -> dict[str, int]:
    """Claim a batch of planned candidates, call their endpoints at once, store the results.

    Safe to run twice: the claim is a conditional UPDATE, so a second delivery finds nothing
    to claim. Each call holds one slot of its endpoint's cluster-wide semaphore. Results are
    written in bulk (candidates under their idempotency keys, ``ON CONFLICT DO NOTHING``; the
    rows' ``done`` marks; the run's counters once; the prompts' pairs), every
    ``FLUSH_SECONDS`` while calls are still running and once at the end. Returns counts per
    outcome (``done``, ``retry``, ``failed``, ``cancelled``, ``skipped``).
    """
    items = _tasks_claim(task_ids)
    figures: Counter[str] = Counter()
    figures["skipped"] = len(set(task_ids)) - len(items)
    if not items:
        return dict(figures)
    stops = {item.task.run_id: threading.Event() for item in items}
    with ThreadPoolExecutor(
        max_workers=len(items), thread_name_prefix="generation-call"
    ) as executor:
        futures = {
            executor.submit(_item_call, item, stops[item.task.run_id]): item for item in items
        }
        waiting: set[Future[None]] = set(futures)
        while waiting:
            finished, waiting = wait(waiting, timeout=FLUSH_SECONDS)
            ready = [futures[future] for future in finished]
            if ready:
                figures.update(_items_store(ready))
            if waiting:
                # Calls are still running: notice a cancelled run, so no new call starts.
                active = set(
                    GenerationRun.objects.filter(
                        pk__in=stops, status=GenerationRun.Status.RUNNING
                    ).values_list("pk", flat=True)
                )
                for run_id, stop in stops.items():
                    if run_id not in active:
                        stop.set()
    return dict(figures)


def _tasks_claim(task_ids: Sequence[int]) -> list[_Item]:
    """Move the claimable rows among ``task_ids`` to running with a lease (one transaction)."""
    now = timezone.now()
    ids = set(task_ids)
    with transaction.atomic():
        tasks = list(
            GenerationTask.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(now), pk__in=ids)
            .filter(run__status=GenerationRun.Status.RUNNING)
            .select_related("endpoint", "run", "prompt")
            .order_by("id")
        )
        missing = ids - {task.pk for task in tasks}
        if tasks:
            tasks += _tasks_due_again(tasks, now=now)
            lease = max(lease_seconds(task.endpoint) for task in tasks)
            GenerationTask.objects.filter(pk__in=[task.pk for task in tasks]).update(
                status=GenerationTask.Status.RUNNING,
                lease_until=now + timedelta(seconds=lease),
                attempts=F("attempts") + 1,
                available_at=None,
                updated_at=now,  # update() skips auto_now; the sweeper reads progress from it
            )
    if missing:
        _tasks_resend_early(missing, now=now)
    for task in tasks:
        task.attempts += 1
    return [_Item(task=task) for task in tasks]


def _tasks_resend_early(ids: Iterable[int], *, now: Any) -> None:
    """Send again, for when they are due, rows whose retry a message came too early for.

    That is an older message for a row that failed again since, or a worker's clock a little
    behind the sender's: either way no pending row is left without a message on its way.
    """
    early = list(
        GenerationTask.objects.filter(
            pk__in=list(ids),
            status=GenerationTask.Status.PENDING,
            available_at__gt=now,
            run__status=GenerationRun.Status.RUNNING,
        ).values_list("id", "endpoint_id", "available_at")
    )
    if early:
        countdown = max((due - now).total_seconds() for _, _, due in early)
        _enqueue_rows([(task_id, endpoint_id) for task_id, endpoint_id, _ in early], countdown)


def _tasks_due_again(tasks: list[GenerationTask], *, now: Any) -> list[GenerationTask]:
    """Rows of the same run and endpoint whose retry is due, to take along in this batch.

    A retry's own message goes to the back of the queue, behind the rest of the run; taking
    due retries along with fresh work runs them on time (their message then finds nothing to
    claim). A batch takes up to a quarter more than its size, or fills up if it is short.
    """
    first = tasks[0]
    size = batch_size(first.endpoint.concurrency_limit)
    room = max(0, size - len(tasks)) + size // 4
    if room <= 0:
        return []
    return list(
        GenerationTask.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            run_id=first.run_id,
            endpoint_id=first.endpoint_id,
            status=GenerationTask.Status.PENDING,
            available_at__lte=now,
        )
        .exclude(pk__in=[task.pk for task in tasks])
        .select_related("endpoint", "run", "prompt")
        .order_by("available_at")[:room]
    )


def _item_call(item: _Item, stop: threading.Event) -> None:
    """Call the endpoint for one claimed row (in a thread; touches no database)."""
    task = item.task
    endpoint = task.endpoint
    run = task.run
    style = next((s for s in run.styles if s["name"] == task.style), None)
    messages = list(task.prompt.messages)
    if style and style["system_prompt"]:
        messages = [{"role": "system", "content": style["system_prompt"]}, *messages]
    try:
        if stop.is_set():
            item.outcome = "stopped"
            return
        with endpoint_slot(
            endpoint.pk,
            endpoint.concurrency_limit,
            lease_seconds=lease_seconds(endpoint),
            wait_seconds=endpoint.timeout_seconds,
        ):
            if stop.is_set():
                item.outcome = "stopped"
                return
            answer: Answer = chat_send(
                endpoint,
                messages=messages,
                temperature=run.temperature,
                max_tokens=run.max_tokens,
                seed=task.seed,
            )
        # The slot is back; reading the answer needs no endpoint.
        item.completion = chat_parse(answer, endpoint)
        item.outcome = "done"
    except SemaphoreTimeout:
        # Not the endpoint's fault: give the attempt back and try again soon.
        item.outcome = "busy"
        item.delay = random.uniform(0.5, 2.0)
    except CallError as error:
        item.error = error
        if error.retryable and task.attempts < MAX_ATTEMPTS:
            item.outcome = "retry"
            item.delay = (
                # Never before Retry-After; a little jitter (a quarter, at most 0.25 s) after.
                error.retry_after + random.uniform(0, min(0.25, error.retry_after / 4))
                if error.retry_after is not None
                else backoff_seconds(task.attempts)
            )
        else:
            item.outcome = "failed"
    except Exception:  # e.g. Redis unreachable: the lease brings the row back
        logger.exception("generation task %s: unexpected error; left to its lease", task.pk)
        item.outcome = "lost"


def _items_store(items: list[_Item]) -> Counter[str]:
    """Write what a batch's finished calls produced, in one transaction, then send retries."""
    figures: Counter[str] = Counter()
    done = [item for item in items if item.outcome == "done"]
    failed = [item for item in items if item.outcome == "failed"]
    again = [item for item in items if item.outcome in ("retry", "busy")]
    stopped = [item for item in items if item.outcome == "stopped"]
    resend: list[GenerationTask] = []
    delay = 0.0
    runs: dict[int, Counter[str]] = {}
    now = timezone.now()
    # Rendered before the transaction, so its row locks are not held while markdown runs.
    html = {
        item.task.pk: stored_html(item.completion.text)
        for item in done
        if item.completion is not None
    }
    with transaction.atomic():
        status: dict[int, str] = {}
        if done or failed:
            # Lock the rows (in id order): a second worker storing the same row after a lease
            # expiry waits here, then sees it done and adds nothing.
            status = dict(
                GenerationTask.objects.select_for_update()
                .filter(pk__in=[item.task.pk for item in done + failed])
                .order_by("id")
                .values_list("id", "status")
            )
        fresh = [
            item
            for item in done
            if item.task.pk in status and status[item.task.pk] != GenerationTask.Status.DONE
        ]
        if fresh:
            Candidate.objects.bulk_create(
                [_candidate_of(item, html[item.task.pk]) for item in fresh],
                ignore_conflicts=True,
            )
            _tasks_mark_done(fresh, now=now)
            for item in fresh:
                counts = runs.setdefault(item.task.run_id, Counter())
                counts["succeeded"] += 1
                if status[item.task.pk] == GenerationTask.Status.FAILED:
                    counts["failed"] -= 1  # another attempt had given up on it meanwhile
                if item.completion is not None:
                    counts["prompt_tokens"] += item.completion.prompt_tokens or 0
                    counts["completion_tokens"] += item.completion.completion_tokens or 0
            pairs_build_bulk(prompt_ids=sorted({item.task.prompt_id for item in fresh}))
        figures["done"] = len(done)
        for item in failed:
            if status.get(item.task.pk) != GenerationTask.Status.RUNNING or item.error is None:
                continue
            GenerationTask.objects.filter(pk=item.task.pk).update(
                status=GenerationTask.Status.FAILED,
                lease_until=None,
                error_kind=item.error.kind,
                error=item.error.detail[:ERROR_TEXT_LIMIT],
                updated_at=now,
            )
            runs.setdefault(item.task.run_id, Counter())["failed"] += 1
            logger.warning(
                "generation task %s failed after %s attempts: %s",
                item.task.pk,
                item.task.attempts,
                item.error.kind,
            )
        figures["failed"] = len(failed)
        for item in again:
            changes: dict[str, Any] = {
                "status": GenerationTask.Status.PENDING,
                "lease_until": None,
                "available_at": now + timedelta(seconds=item.delay),
                "updated_at": now,
            }
            if item.error is not None:
                changes["error_kind"] = item.error.kind
                changes["error"] = item.error.detail[:ERROR_TEXT_LIMIT]
                logger.info(
                    "generation task %s attempt %s: %s; retrying in %.1f s",
                    item.task.pk,
                    item.task.attempts,
                    item.error.kind,
                    item.delay,
                )
            else:
                changes["attempts"] = F("attempts") - 1  # the slot wait was not an attempt
            if GenerationTask.objects.filter(
                pk=item.task.pk, status=GenerationTask.Status.RUNNING
            ).update(**changes):
                resend.append(item.task)
                delay = max(delay, item.delay)
        figures["retry"] = len(again)
        # Last statements before commit: every batch of the run updates this one row, so its
        # row lock is held for as short a time as possible.
        for run_id, counts in sorted(runs.items()):
            changes = {name: F(name) + value for name, value in counts.items() if value}
            if changes:
                GenerationRun.objects.filter(pk=run_id).update(**changes)
    if resend:
        _enqueue_tasks(resend, countdown=delay)
    if stopped:
        figures["cancelled"] = _items_stopped(stopped)
    for run_id in runs:
        run_finalise(run_id=run_id)
    return figures


def _tasks_mark_done(items: list[_Item], *, now: Any) -> None:
    """Mark rows done with each one's latency: one UPDATE … FROM (VALUES …) statement."""
    table = connection.ops.quote_name(GenerationTask._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(items))
    params: list[Any] = [GenerationTask.Status.DONE, now]
    for item in items:
        params += [item.task.pk, item.completion.latency_ms if item.completion else None]
    with connection.cursor() as cursor:
        cursor.execute(
            # Only the quoted table name and placeholders are formatted in; values are bound.
            f"UPDATE {table} SET status = %s, lease_until = NULL, error = '', updated_at = %s, "  # noqa: S608
            f"latency_ms = CAST(v.column2 AS integer) FROM (VALUES {values}) AS v "
            f"WHERE {table}.id = v.column1",
            params,
        )


def _candidate_of(item: _Item, rendering: tuple[str, int]) -> Candidate:
    """The candidate of a finished call, with its ``stored_html`` rendering."""
    task = item.task
    completion = item.completion
    assert completion is not None
    html, renderer = rendering
    return Candidate(
        idempotency_key=task.idempotency_key,
        prompt_id=task.prompt_id,
        text=completion.text,
        html=html,
        html_renderer=renderer,
        source=task.endpoint.name,
        run_id=task.run_id,
        endpoint_id=task.endpoint_id,
        model=completion.model,
        style=task.style,
        sample_index=task.sample_index,
        seed=task.seed,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_ms=completion.latency_ms,
    )


def _items_stopped(items: list[_Item]) -> int:
    """Claimed rows whose run was cancelled before their call started: cancelled with it.

    The run row is locked first, as :func:`run_resume` does, so a resume in between sees them
    cancelled and sends them again, or comes after and they go back to pending instead.
    """
    cancelled = 0
    back: list[GenerationTask] = []
    for run_id in sorted({item.task.run_id for item in items}):
        ids = [item.task.pk for item in items if item.task.run_id == run_id]
        with transaction.atomic():
            run_status = (
                GenerationRun.objects.select_for_update()
                .filter(pk=run_id)
                .values_list("status", flat=True)
                .first()
            )
            if run_status == GenerationRun.Status.CANCELLED:
                cancelled += GenerationTask.objects.filter(
                    pk__in=ids, status=GenerationTask.Status.RUNNING
                ).update(
                    status=GenerationTask.Status.CANCELLED,
                    lease_until=None,
                    attempts=F("attempts") - 1,
                    updated_at=timezone.now(),
                )
            elif run_status is not None:
                released = GenerationTask.objects.filter(
                    pk__in=ids, status=GenerationTask.Status.RUNNING
                ).update(
                    status=GenerationTask.Status.PENDING,
                    lease_until=None,
                    available_at=None,
                    attempts=F("attempts") - 1,
                    updated_at=timezone.now(),
                )
                if released:
                    back.extend(item.task for item in items if item.task.run_id == run_id)
    if back:
        _enqueue_tasks(back)
    return cancelled


def run_finalise(*, run_id: int) -> str:
    """Close a running run whose every task is done or failed (conditional UPDATE)."""
    counted_out = GenerationRun.objects.filter(
        pk=run_id,
        status=GenerationRun.Status.RUNNING,
        planned__lte=F("succeeded") + F("failed"),
    ).exists()
    if not counted_out:
        # The counters say work is left (the common case): one cheap query, nothing to do.
        return GenerationRun.objects.values_list("status", flat=True).get(pk=run_id)
    open_tasks = GenerationTask.objects.filter(
        run_id=run_id, status__in=(GenerationTask.Status.PENDING, GenerationTask.Status.RUNNING)
    )
    if open_tasks.exists():
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
    """Stop a run: its pending tasks are cancelled; calls already in flight finish."""
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
    """Resume a cancelled run, or retry the failed tasks of a finished one."""
    with transaction.atomic():
        locked = GenerationRun.objects.select_for_update().get(pk=run.pk)
        if locked.status in (GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING):
            raise ValidationError("The run is still going.")
        if locked.started_at is None:
            # Cancelled before planning: plan it now.
            GenerationRun.objects.filter(pk=run.pk).update(
                status=GenerationRun.Status.QUEUED, finished_at=None
            )
            from .tasks import enqueue_plan, enqueue_watch

            transaction.on_commit(lambda: enqueue_plan(run.pk))
            transaction.on_commit(lambda: enqueue_watch(run.pk))
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
        transaction.on_commit(lambda: _enqueue_claimable(run_id=run.pk))
        transaction.on_commit(lambda: run_finalise(run_id=run.pk))
        from .tasks import enqueue_watch

        transaction.on_commit(lambda: enqueue_watch(run.pk))
    run.refresh_from_db()
    return run


def run_recover(*, run_id: int | None = None, stall_seconds: float | None = None) -> dict[str, int]:
    """The sweeper: send again work a dead worker took with it, and finalise finished runs.

    - a running task whose lease expired was claimed by a worker that died (or hung past its
      timeout): back to pending, sent again;
    - pending tasks of a run that has made no progress for ``stall_seconds`` (default: one
      lease) may have had their message lost with a worker: sent again (a duplicate message
      is harmless: the claim lets only one through);
    - a queued run that was never planned is planned;
    - a running run with nothing left open is finalised.
    """
    now = timezone.now()
    runs = GenerationRun.objects.filter(
        status__in=(GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING)
    )
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    figures = {"runs": 0, "expired": 0, "resent": 0, "planned": 0, "finalised": 0}
    from .tasks import enqueue_plan

    for run in runs:
        figures["runs"] += 1
        endpoints = list(run.endpoints.all())
        lease = max((lease_seconds(e) for e in endpoints), default=30.0)
        stall = lease if stall_seconds is None else stall_seconds
        if run.status == GenerationRun.Status.QUEUED:
            if run.created_at < now - timedelta(seconds=stall):
                enqueue_plan(run.pk)
                figures["planned"] += 1
            continue
        expired = list(
            GenerationTask.objects.filter(
                run=run, status=GenerationTask.Status.RUNNING, lease_until__lt=now
            ).values_list("id", "endpoint_id")
        )
        expired_ids = [task_id for task_id, _ in expired]
        if expired_ids:
            GenerationTask.objects.filter(
                pk__in=expired_ids, status=GenerationTask.Status.RUNNING, lease_until__lt=now
            ).update(
                status=GenerationTask.Status.PENDING,
                lease_until=None,
                available_at=None,
                updated_at=now,
            )
            figures["expired"] += _enqueue_rows(expired)
        last_change = GenerationTask.objects.filter(run=run).aggregate(last=Max("updated_at"))[
            "last"
        ]
        if last_change is None or last_change < now - timedelta(seconds=stall):
            stale = (
                GenerationTask.objects.filter(run=run, status=GenerationTask.Status.PENDING)
                .filter(Q(available_at__isnull=True) | Q(available_at__lte=now))
                .exclude(pk__in=expired_ids)
                .order_by("id")
                .values_list("id", "endpoint_id")
            )
            figures["resent"] += _enqueue_rows(stale.iterator())
        if run_finalise(run_id=run.pk) != GenerationRun.Status.RUNNING:
            figures["finalised"] += 1
    return figures
