"""The executor: turn a batch of planned grades into stored grades.

A batch's rows are claimed with a conditional UPDATE (pending → running with a lease), their
calls run at once (each holding a slot of the endpoint's semaphore, :mod:`.calls`), each
item's samples are parsed against the rubric and combined into one grade, and the grades are
stored under the unique (grader version, item, order) keys in one transaction with the rows'
``done`` marks and the run's counters. A second delivery finds nothing to claim, and a grade
stored twice adds nothing (``ON CONFLICT DO NOTHING``). A failed call retries with backoff until
:data:`MAX_ATTEMPTS`; an answer that is not a grade is asked again until
:data:`ANSWER_ATTEMPTS`, then the item fails with the reason and no grade is stored; an item
whose category the pinned policy lacks fails at once with the reason.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from policy.rubric import PREFERENCE_FIELD

from ..generation.client import CallError
from ..generation.executor import ERROR_TEXT_LIMIT, MAX_ATTEMPTS, backoff_seconds
from ..models import Grade, GradingRun, GradingTask
from ..planned_runs import calls_at_once
from .answers import AnswerError, CombinedGrade, answer_parse, samples_combine
from .calls import SampleAnswers, sample_answers
from .dispatch import enqueue_ids
from .runs import run_finalise, run_lease_seconds
from .templates import CANDIDATE, PAIR, GradingItemError, grading_prompt

ANSWER_ATTEMPTS = 3
"""How often an item is asked again when an answer is not a grade (a sampled grader may do
better the next time; one that keeps failing is recorded as failed with the reason)."""


logger = logging.getLogger(__name__)


def _claimable(now: Any) -> Q:
    pending_ready = Q(status=GradingTask.Status.PENDING) & (
        Q(available_at__isnull=True) | Q(available_at__lte=now)
    )
    expired = Q(status=GradingTask.Status.RUNNING, lease_until__lt=now)
    return pending_ready | expired


@dataclass
class _Item:
    """One claimed planned grade while its batch runs, and what became of it."""

    planned: GradingTask
    prompt: str = ""
    outcome: str = ""  # done · retry · failed · stopped · lost
    answers: SampleAnswers | None = None
    grade: CombinedGrade | None = None
    error_kind: str = ""
    error: str = ""
    delay: float = 0.0
    notes: list[str] = field(default_factory=list)


def planned_batch_execute(*, planned_ids: Sequence[int]) -> dict[str, int]:
    """Claim a batch of planned grades, ask the grader for each at once, store the results.

    Safe to run twice. Returns counts per outcome (``done``, ``retry``, ``failed``,
    ``cancelled``, ``skipped``).
    """
    items = _planned_claim(planned_ids)
    figures: Counter[str] = Counter()
    figures["skipped"] = len(set(planned_ids)) - len(items)
    if not items:
        return dict(figures)
    for item in items:
        _item_prompt(item)
    stops = {item.planned.run_id: threading.Event() for item in items}
    ready_now = [item for item in items if item.outcome]
    if ready_now:
        figures.update(_items_store(ready_now))
    calls = [item for item in items if not item.outcome]
    if not calls:
        return dict(figures)
    figures.update(
        calls_at_once(
            calls,
            call=lambda item: _item_call(item, stops[item.planned.run_id]),
            store=_items_store,
            stops=stops,
            run_model=GradingRun,
            thread_name_prefix="grading-call",
        )
    )
    return dict(figures)


def _planned_claim(planned_ids: Sequence[int]) -> list[_Item]:
    """Move the claimable rows among ``planned_ids`` to running with a lease (one transaction)."""
    now = timezone.now()
    ids = set(planned_ids)
    with transaction.atomic():
        planned_rows = list(
            GradingTask.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(now), pk__in=ids)
            .filter(run__status=GradingRun.Status.RUNNING)
            .select_related(
                "run__grader_version__endpoint",
                "run__grader_version__policy_version",
                "candidate__prompt",
                "pair__prompt",
                "pair__candidate_a",
                "pair__candidate_b",
            )
            .order_by("id")
        )
        missing = ids - {planned.pk for planned in planned_rows}
        if planned_rows:
            lease = max(run_lease_seconds(p.run.grader_version) for p in planned_rows)
            GradingTask.objects.filter(pk__in=[planned.pk for planned in planned_rows]).update(
                status=GradingTask.Status.RUNNING,
                lease_until=now + timedelta(seconds=lease),
                attempts=F("attempts") + 1,
                available_at=None,
                updated_at=now,  # update() skips auto_now; the sweep reads progress from it
            )
    if missing:
        _planned_resend_early(missing, now=now)
    for planned in planned_rows:
        planned.attempts += 1
    return [_Item(planned=planned) for planned in planned_rows]


def _planned_resend_early(ids: Iterable[int], *, now: Any) -> None:
    """Send again, for when they are due, rows whose retry a message came too early for, so
    no pending row is left without a message on its way."""
    early = list(
        GradingTask.objects.filter(
            pk__in=list(ids),
            status=GradingTask.Status.PENDING,
            available_at__gt=now,
            run__status=GradingRun.Status.RUNNING,
        ).values_list("id", "run_id", "available_at")
    )
    for run_id in {row[1] for row in early}:
        rows = [row for row in early if row[1] == run_id]
        countdown = max((due - now).total_seconds() for _, _, due in rows)
        enqueue_ids(run_id=run_id, ids=[row[0] for row in rows], countdown=countdown)


def _item_prompt(item: _Item) -> None:
    """Fill the grader's template for the item; an item the pinned policy cannot grade fails
    here, with the reason, and is never asked again."""
    planned = item.planned
    version = planned.run.grader_version
    try:
        if planned.kind == Grade.Kind.CANDIDATE:
            item.prompt = grading_prompt(version, candidate=planned.candidate)
        else:
            item.prompt = grading_prompt(version, pair=planned.pair, order=planned.order)
    except GradingItemError as error:
        item.outcome = "failed"
        item.error_kind = "category"
        item.error = error.message


def _item_call(item: _Item, stop: threading.Event) -> None:
    """Ask the grader about one claimed item and parse its samples (in a thread; touches no
    database)."""
    planned = item.planned
    version = planned.run.grader_version
    kind = CANDIDATE if planned.kind == Grade.Kind.CANDIDATE else PAIR
    if stop.is_set():
        item.outcome = "stopped"
        return
    try:
        item.answers = sample_answers(version, item.prompt, kind)
    except CallError as error:
        item.error_kind = error.kind
        item.error = error.detail
        if error.retryable and planned.attempts < MAX_ATTEMPTS:
            item.outcome = "retry"
            item.delay = (
                error.retry_after + random.uniform(0, min(0.25, error.retry_after / 4))
                if error.retry_after is not None
                else backoff_seconds(planned.attempts)
            )
        else:
            item.outcome = "failed"
        return
    except Exception:  # e.g. Redis unreachable: the lease brings the row back
        logger.exception("planned grade %s: unexpected error; left to its lease", planned.pk)
        item.outcome = "lost"
        return
    parsed: list[dict[str, Any]] = []
    for index, text in enumerate(item.answers.texts):
        try:
            parsed.append(answer_parse(text, kind))
        except AnswerError as error:
            item.error_kind = "answer"
            item.error = f"sample {index + 1}: {error.field}: {error.reason}"
            if planned.attempts < ANSWER_ATTEMPTS:
                item.outcome = "retry"
                item.delay = backoff_seconds(planned.attempts)
            else:
                item.outcome = "failed"
            return
    item.grade = samples_combine(kind, parsed)
    item.outcome = "done"


def _grade_of(item: _Item) -> Grade:
    """The stored grade of a finished item; a pair's preference in canonical order (negative:
    candidate A better), whatever order it was shown in."""
    planned = item.planned
    grade, answers = item.grade, item.answers
    assert grade is not None and answers is not None
    values = dict(grade.values)
    if planned.kind == Grade.Kind.PAIR and planned.order == Grade.Order.BA:
        values[PREFERENCE_FIELD] = -values[PREFERENCE_FIELD]
    return Grade(
        grader_version_id=planned.run.grader_version_id,
        kind=planned.kind,
        candidate_id=planned.candidate_id,
        pair_id=planned.pair_id,
        order=planned.order,
        confidence=grade.confidence,
        field_confidence=grade.field_confidence,
        samples=grade.samples,
        rationale=grade.rationale,
        raw_answers=answers.texts,
        prompt_tokens=answers.prompt_tokens,
        completion_tokens=answers.completion_tokens,
        latency_ms=answers.latency_ms,
        **values,
    )


def _items_store(items: list[_Item]) -> Counter[str]:
    """Write what a batch's finished items produced, in one transaction, then send retries."""
    figures: Counter[str] = Counter()
    done = [item for item in items if item.outcome == "done"]
    failed = [item for item in items if item.outcome == "failed"]
    again = [item for item in items if item.outcome == "retry"]
    stopped = [item for item in items if item.outcome == "stopped"]
    resend: dict[int, list[int]] = {}
    delay = 0.0
    runs: dict[int, Counter[str]] = {}
    now = timezone.now()
    with transaction.atomic():
        status: dict[int, str] = {}
        if done or failed:
            # Lock the rows (in id order): a second worker storing the same row after a lease
            # expiry waits here, then sees it done and adds nothing.
            status = dict(
                GradingTask.objects.select_for_update()
                .filter(pk__in=[item.planned.pk for item in done + failed])
                .order_by("id")
                .values_list("id", "status")
            )
        fresh = [
            item
            for item in done
            if item.planned.pk in status and status[item.planned.pk] != GradingTask.Status.DONE
        ]
        if fresh:
            Grade.objects.bulk_create([_grade_of(item) for item in fresh], ignore_conflicts=True)
            GradingTask.objects.filter(pk__in=[item.planned.pk for item in fresh]).update(
                status=GradingTask.Status.DONE,
                lease_until=None,
                error_kind="",
                error="",
                updated_at=now,
            )
            for item in fresh:
                counts = runs.setdefault(item.planned.run_id, Counter())
                counts["graded"] += 1
                if status[item.planned.pk] == GradingTask.Status.FAILED:
                    counts["failed"] -= 1  # another attempt had given up on it meanwhile
                if item.answers is not None:
                    counts["prompt_tokens"] += item.answers.prompt_tokens or 0
                    counts["completion_tokens"] += item.answers.completion_tokens or 0
        figures["done"] = len(done)
        for item in failed:
            if status.get(item.planned.pk) != GradingTask.Status.RUNNING:
                continue
            GradingTask.objects.filter(pk=item.planned.pk).update(
                status=GradingTask.Status.FAILED,
                lease_until=None,
                error_kind=item.error_kind,
                error=item.error[:ERROR_TEXT_LIMIT],
                updated_at=now,
            )
            runs.setdefault(item.planned.run_id, Counter())["failed"] += 1
            logger.warning(
                "planned grade %s failed after %s attempts: %s",
                item.planned.pk,
                item.planned.attempts,
                item.error_kind,
            )
        figures["failed"] = len(failed)
        for item in again:
            if GradingTask.objects.filter(
                pk=item.planned.pk, status=GradingTask.Status.RUNNING
            ).update(
                status=GradingTask.Status.PENDING,
                lease_until=None,
                available_at=now + timedelta(seconds=item.delay),
                error_kind=item.error_kind,
                error=item.error[:ERROR_TEXT_LIMIT],
                updated_at=now,
            ):
                resend.setdefault(item.planned.run_id, []).append(item.planned.pk)
                delay = max(delay, item.delay)
        figures["retry"] = len(again)
        # Last statements before commit: every batch of the run updates this one row.
        for run_id, counts in sorted(runs.items()):
            changes = {name: F(name) + value for name, value in counts.items() if value}
            if changes:
                GradingRun.objects.filter(pk=run_id).update(**changes)
    for run_id, ids in resend.items():
        enqueue_ids(run_id=run_id, ids=ids, countdown=delay)
    if stopped:
        figures["cancelled"] = _items_stopped(stopped)
    for run_id in runs:
        run_finalise(run_id=run_id)
    return figures


def _items_stopped(items: list[_Item]) -> int:
    """Claimed rows whose run was cancelled before their call started: cancelled with it
    (the run row locked first, as :func:`.runs.run_resume` does); any other run's go back to
    pending and are sent again."""
    cancelled = 0
    for run_id in sorted({item.planned.run_id for item in items}):
        ids = [item.planned.pk for item in items if item.planned.run_id == run_id]
        released = 0
        with transaction.atomic():
            run_status = (
                GradingRun.objects.select_for_update()
                .filter(pk=run_id)
                .values_list("status", flat=True)
                .first()
            )
            if run_status == GradingRun.Status.CANCELLED:
                cancelled += GradingTask.objects.filter(
                    pk__in=ids, status=GradingTask.Status.RUNNING
                ).update(
                    status=GradingTask.Status.CANCELLED,
                    lease_until=None,
                    attempts=F("attempts") - 1,
                    updated_at=timezone.now(),
                )
            elif run_status is not None:
                released = GradingTask.objects.filter(
                    pk__in=ids, status=GradingTask.Status.RUNNING
                ).update(
                    status=GradingTask.Status.PENDING,
                    lease_until=None,
                    available_at=None,
                    attempts=F("attempts") - 1,
                    updated_at=timezone.now(),
                )
        if released:
            enqueue_ids(run_id=run_id, ids=ids)
    return cancelled
