"""When the task broker cannot take a job: the errors that say so, and a short publish retry.

A service that creates a job row and enqueues it after commit uses :data:`QUICK_RETRY` for that
publish, so a broker that is down fails the request within a second or two instead of Celery's
default long retry; it then removes the row it created and raises :class:`BrokerUnavailable`
(views answer 503). Here in ``labeling`` so that ``labeling`` and ``exports`` may both import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError

# What a publish raises when the broker cannot be reached: Celery re-raises the transport's
# connection errors as kombu's OperationalError; a bare socket error may still slip through.
BROKER_ERRORS: tuple[type[Exception], ...] = (OperationalError, ConnectionError)

# Celery's publish retry policy for a request that is waiting: two quick retries, then fail.
QUICK_RETRY: dict[str, Any] = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

BROKER_UNAVAILABLE = "The task broker is unavailable; nothing was created. Try again shortly."


class BrokerUnavailable(Exception):
    """The job could not be enqueued, so nothing was created (views answer 503)."""

    def __init__(self, message: str = BROKER_UNAVAILABLE) -> None:
        super().__init__(message)
        self.message = message


def send_batches(task: Task, batches: Iterable[list[int]], countdown: float | None = None) -> int:
    """Send ``task`` one message per batch of planned ids over a single broker connection;
    returns how many ids were sent."""
    sent = 0
    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = countdown
    with task.app.producer_or_acquire() as producer:
        for batch in batches:
            if batch:
                task.apply_async(args=(list(batch),), producer=producer, **options)
                sent += len(batch)
    return sent
