"""Sending planned grades to the workers, in batches no larger than the endpoint's limit.

The database is the record of what is left to do; a message only says "look at these rows".
Sending a row twice is harmless: the executor's claim lets one delivery through."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from ..generation.dispatch import batch_size
from ..models import GradingRun
from .tasks import enqueue_batches


def run_batch_size(run_id: int) -> int:
    """How many planned grades of a run one message carries (a run has one endpoint)."""
    limit = (
        GradingRun.objects.filter(pk=run_id)
        .values_list("grader_version__endpoint__concurrency_limit", flat=True)
        .first()
    )
    return batch_size(limit or 1)


def _batches(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(ids)
    return iter(lambda: list(islice(iterator, size)), [])


def enqueue_ids(*, run_id: int, ids: Iterable[int], countdown: float | None = None) -> int:
    """Send these planned grades of one run, in batches; returns how many."""
    return enqueue_batches(_batches(ids, run_batch_size(run_id)), countdown=countdown)
