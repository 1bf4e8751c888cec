"""Sending planned candidates to the workers, in batches of one endpoint each.

The database is the record of what is left to do; a message only says "look at these rows".
Sending a row twice is harmless: the executor's claim lets one delivery through."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from ..models import GenerationTask, ModelEndpoint
from .tasks import enqueue_batches

# Planned candidates per message (never more than the endpoint's concurrency limit): a worker
# runs a batch's calls at once, each holding a slot of the endpoint's semaphore, and writes the
# results in bulk. Larger batches cost fewer queries per candidate; smaller ones spread better.
BATCH_SIZE = 16


def batch_size(concurrency_limit: int) -> int:
    """How many planned candidates of an endpoint one message carries."""
    return max(1, min(BATCH_SIZE, concurrency_limit))


def _batches(rows: Iterable[tuple[int, int]]) -> Iterator[list[int]]:
    """Group (planned id, endpoint id) rows into batches of one endpoint each."""
    limits = dict(ModelEndpoint.objects.values_list("pk", "concurrency_limit"))
    buckets: dict[int, list[int]] = {}
    for planned_id, endpoint_id in rows:
        bucket = buckets.setdefault(endpoint_id, [])
        bucket.append(planned_id)
        if len(bucket) >= batch_size(limits.get(endpoint_id, 1)):
            yield bucket
            buckets[endpoint_id] = []
    yield from (bucket for bucket in buckets.values() if bucket)


def enqueue_rows(rows: Iterable[tuple[int, int]], countdown: float | None = None) -> int:
    return enqueue_batches(_batches(rows), countdown=countdown)


def enqueue_planned(rows: Iterable[GenerationTask], countdown: float | None = None) -> int:
    """Send these planned candidates again (retries, stopped calls), in batches."""
    return enqueue_rows(((row.pk, row.endpoint_id) for row in rows), countdown=countdown)


def enqueue_ids(ids: Iterable[int], countdown: float | None = None) -> int:
    """Send planned candidates by id in batches of :data:`BATCH_SIZE`; returns how many."""
    iterator = iter(ids)
    batches = iter(lambda: list(islice(iterator, BATCH_SIZE)), [])
    return enqueue_batches(batches, countdown=countdown)
