"""The executor: turn a batch of planned candidates into stored candidates.

A batch's rows are claimed with a conditional UPDATE (pending → running with a lease), their
calls run at once (each holding a slot of the endpoint's semaphore), and each answer is stored
under the row's idempotency key in one transaction with the row's ``done`` mark and the run's
counters. A second delivery finds nothing to claim. Failures retry with backoff until
:data:`MAX_ATTEMPTS`; a cancelled run's rows stop.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from presentation.untrusted_text import stored_html

from ..models import Candidate, GenerationRun, GenerationTask
from ..pairs import pairs_build_bulk
from ..planned_runs import calls_at_once
from .client import Answer, CallError, Completion, chat_parse, chat_send
from .dispatch import batch_size, enqueue_planned, enqueue_rows
from .endpoints import lease_seconds
from .runs import run_finalise
from .semaphore import SemaphoreTimeout, endpoint_slot

# Retries start quick (a 5xx or a dropped connection is usually gone a moment later) and slow
# down exponentially: waits of up to 0.25, 0.5, 1, 2, 4, 8, 16 s, about half a minute in all
# before a prompt is marked failed. A 429 waits what its Retry-After says instead.
MAX_ATTEMPTS = 8


BACKOFF_BASE_SECONDS = 0.25


BACKOFF_CAP_SECONDS = 60.0


ERROR_TEXT_LIMIT = 500


logger = logging.getLogger(__name__)


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

    planned: GenerationTask
    outcome: str = ""  # done · retry · busy · failed · stopped · lost
    completion: Completion | None = None
    error: CallError | None = None
    delay: float = 0.0


def planned_execute(*, planned_id: int) -> str:
    """Generate one planned candidate (a batch of one). Safe to run twice.

    Returns what happened: ``done``, ``retry``, ``failed``, ``skipped`` (nothing to claim).
    """
    figures = planned_batch_execute(planned_ids=[planned_id])
    for outcome in ("done", "failed", "retry", "cancelled"):
        if figures.get(outcome):
            return outcome
    return "skipped"


def planned_batch_execute(*, planned_ids: Sequence[int]) -> dict[str, int]:
    """Claim a batch of planned candidates, call their endpoints at once, store the results.

    Safe to run twice: the claim is a conditional UPDATE, so a second delivery finds nothing
    to claim. Each call holds one slot of its endpoint's cluster-wide semaphore. Results are
    written in bulk (candidates under their idempotency keys, ``ON CONFLICT DO NOTHING``; the
    rows' ``done`` marks; the run's counters once; the prompts' pairs), every
    ``planned_runs.FLUSH_SECONDS`` while calls are still running and once at the end. Returns
    counts per outcome (``done``, ``retry``, ``failed``, ``cancelled``, ``skipped``).
    """
    items = _planned_claim(planned_ids)
    figures: Counter[str] = Counter()
    figures["skipped"] = len(set(planned_ids)) - len(items)
    if not items:
        return dict(figures)
    stops = {item.planned.run_id: threading.Event() for item in items}
    figures.update(
        calls_at_once(
            items,
            call=lambda item: _item_call(item, stops[item.planned.run_id]),
            store=_items_store,
            stops=stops,
            run_model=GenerationRun,
            thread_name_prefix="generation-call",
        )
    )
    return dict(figures)


def _planned_claim(planned_ids: Sequence[int]) -> list[_Item]:
    """Move the claimable rows among ``planned_ids`` to running with a lease (one transaction)."""
    now = timezone.now()
    ids = set(planned_ids)
    with transaction.atomic():
        planned_rows = list(
            GenerationTask.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(now), pk__in=ids)
            .filter(run__status=GenerationRun.Status.RUNNING)
            .select_related("endpoint", "run", "prompt")
            .order_by("id")
        )
        missing = ids - {planned.pk for planned in planned_rows}
        if planned_rows:
            planned_rows += _planned_due_again(planned_rows, now=now)
            lease = max(lease_seconds(planned.endpoint) for planned in planned_rows)
            GenerationTask.objects.filter(pk__in=[planned.pk for planned in planned_rows]).update(
                status=GenerationTask.Status.RUNNING,
                lease_until=now + timedelta(seconds=lease),
                attempts=F("attempts") + 1,
                available_at=None,
                updated_at=now,  # update() skips auto_now; the sweeper reads progress from it
            )
    if missing:
        _planned_resend_early(missing, now=now)
    for planned in planned_rows:
        planned.attempts += 1
    return [_Item(planned=planned) for planned in planned_rows]


def _planned_resend_early(ids: Iterable[int], *, now: Any) -> None:
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
        enqueue_rows([(planned_id, endpoint_id) for planned_id, endpoint_id, _ in early], countdown)


def _planned_due_again(planned_rows: list[GenerationTask], *, now: Any) -> list[GenerationTask]:
    """Rows of the same run and endpoint whose retry is due, to take along in this batch.

    A retry's own message goes to the back of the queue, behind the rest of the run; taking
    due retries along with fresh work runs them on time (their message then finds nothing to
    claim). A batch takes up to a quarter more than its size, or fills up if it is short.
    """
    first = planned_rows[0]
    size = batch_size(first.endpoint.concurrency_limit)
    room = max(0, size - len(planned_rows)) + size // 4
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
        .exclude(pk__in=[planned.pk for planned in planned_rows])
        .select_related("endpoint", "run", "prompt")
        .order_by("available_at")[:room]
    )


def _item_call(item: _Item, stop: threading.Event) -> None:
    """Call the endpoint for one claimed row (in a thread; touches no database)."""
    planned = item.planned
    endpoint = planned.endpoint
    run = planned.run
    style = next((s for s in run.styles if s["name"] == planned.style), None)
    messages = list(planned.prompt.messages)
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
                seed=planned.seed,
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
        if error.retryable and planned.attempts < MAX_ATTEMPTS:
            item.outcome = "retry"
            item.delay = (
                # Never before Retry-After; a little jitter (a quarter, at most 0.25 s) after.
                error.retry_after + random.uniform(0, min(0.25, error.retry_after / 4))
                if error.retry_after is not None
                else backoff_seconds(planned.attempts)
            )
        else:
            item.outcome = "failed"
    except Exception:  # e.g. Redis unreachable: the lease brings the row back
        logger.exception("planned candidate %s: unexpected error; left to its lease", planned.pk)
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
        item.planned.pk: stored_html(item.completion.text)
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
                .filter(pk__in=[item.planned.pk for item in done + failed])
                .order_by("id")
                .values_list("id", "status")
            )
        fresh = [
            item
            for item in done
            if item.planned.pk in status and status[item.planned.pk] != GenerationTask.Status.DONE
        ]
        if fresh:
            Candidate.objects.bulk_create(
                [_candidate_of(item, html[item.planned.pk]) for item in fresh],
                ignore_conflicts=True,
            )
            _planned_mark_done(fresh, now=now)
            for item in fresh:
                counts = runs.setdefault(item.planned.run_id, Counter())
                counts["succeeded"] += 1
                if status[item.planned.pk] == GenerationTask.Status.FAILED:
                    counts["failed"] -= 1  # another attempt had given up on it meanwhile
                if item.completion is not None:
                    counts["prompt_tokens"] += item.completion.prompt_tokens or 0
                    counts["completion_tokens"] += item.completion.completion_tokens or 0
            pairs_build_bulk(prompt_ids=sorted({item.planned.prompt_id for item in fresh}))
        figures["done"] = len(done)
        for item in failed:
            if status.get(item.planned.pk) != GenerationTask.Status.RUNNING or item.error is None:
                continue
            GenerationTask.objects.filter(pk=item.planned.pk).update(
                status=GenerationTask.Status.FAILED,
                lease_until=None,
                error_kind=item.error.kind,
                error=item.error.detail[:ERROR_TEXT_LIMIT],
                updated_at=now,
            )
            runs.setdefault(item.planned.run_id, Counter())["failed"] += 1
            logger.warning(
                "planned candidate %s failed after %s attempts: %s",
                item.planned.pk,
                item.planned.attempts,
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
                    "planned candidate %s attempt %s: %s; retrying in %.1f s",
                    item.planned.pk,
                    item.planned.attempts,
                    item.error.kind,
                    item.delay,
                )
            else:
                changes["attempts"] = F("attempts") - 1  # the slot wait was not an attempt
            if GenerationTask.objects.filter(
                pk=item.planned.pk, status=GenerationTask.Status.RUNNING
            ).update(**changes):
                resend.append(item.planned)
                delay = max(delay, item.delay)
        figures["retry"] = len(again)
        # Last statements before commit: every batch of the run updates this one row, so its
        # row lock is held for as short a time as possible.
        for run_id, counts in sorted(runs.items()):
            changes = {name: F(name) + value for name, value in counts.items() if value}
            if changes:
                GenerationRun.objects.filter(pk=run_id).update(**changes)
    if resend:
        enqueue_planned(resend, countdown=delay)
    if stopped:
        figures["cancelled"] = _items_stopped(stopped)
    for run_id in runs:
        run_finalise(run_id=run_id)
    return figures


def _planned_mark_done(items: list[_Item], *, now: Any) -> None:
    """Mark rows done with each one's latency: one UPDATE … FROM (VALUES …) statement."""
    table = connection.ops.quote_name(GenerationTask._meta.db_table)
    values = ", ".join(["(%s, %s)"] * len(items))
    params: list[Any] = [GenerationTask.Status.DONE, now]
    for item in items:
        params += [item.planned.pk, item.completion.latency_ms if item.completion else None]
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
    planned = item.planned
    completion = item.completion
    assert completion is not None
    html, renderer = rendering
    return Candidate(
        idempotency_key=planned.idempotency_key,
        prompt_id=planned.prompt_id,
        text=completion.text,
        html=html,
        html_renderer=renderer,
        source=planned.endpoint.name,
        run_id=planned.run_id,
        endpoint_id=planned.endpoint_id,
        model=completion.model,
        style=planned.style,
        sample_index=planned.sample_index,
        seed=planned.seed,
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
    for run_id in sorted({item.planned.run_id for item in items}):
        ids = [item.planned.pk for item in items if item.planned.run_id == run_id]
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
                    back.extend(item.planned for item in items if item.planned.run_id == run_id)
    if back:
        enqueue_planned(back)
    return cancelled
