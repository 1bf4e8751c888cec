"""Every worker's own sweep: a thread that runs each job sweep in-process every few seconds.

The database is the record of what jobs have left to do; the broker only carries messages that
say "look at these rows", and a broker can lose them: a Redis restart without persistence drops
every queue, a message a worker held (reserved, or waiting for its countdown) stays in Redis's
unacknowledged set until the visibility timeout, a worker killed mid-task takes its message
along. Each sweep task looks at its job rows and sends again what has stalled. The sweep runs in
a thread of every worker, never as a message, so a broker that loses messages cannot lose the
sweep, and a worker that reconnects after an outage finds the lost work within one period.

Several workers sweeping at once is harmless: every sweep is idempotent, and a row it sends again
is marked so the next sweep (of any worker) leaves it alone for a while.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

from celery import Celery, bootsteps
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

# The tasks, by name, whose bodies sweep one kind of job. Named, not imported: a task module
# loads models, which the worker's app registry is not ready for when this module loads.
SWEEP_TASKS = (
    "labeling.generation.recover",
    "labeling.grading.recover",
    "exports.recover",
    "labeling.imports.recover",
)


def sweep_once(app: Celery) -> None:
    """Run every sweep once in this thread; one failing (database down) never stops the rest."""
    for name in SWEEP_TASKS:
        try:
            app.tasks[name]()
        except Exception:
            logger.warning("sweep %s failed; the next period tries again", name, exc_info=True)
        finally:
            # This thread's connection may have died with a database restart: the next period
            # opens a fresh one.
            connections.close_all()


class JobSweep(bootsteps.StartStopStep):
    """A worker bootstep that starts the sweep thread with the worker and stops it with it."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.period = float(settings.GRAYLAB_SWEEP_SECONDS)
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        if self.period <= 0:
            return
        self.thread = threading.Thread(
            target=self._run, args=(worker.app,), name="graylab-job-sweep", daemon=True
        )
        self.thread.start()

    def stop(self, worker: Any) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def terminate(self, worker: Any) -> None:
        self.stop(worker)

    def _run(self, app: Celery) -> None:
        # The first sweep comes soon after start, so a worker started in place of a dead one
        # resumes lost work at once; a random share of the period spreads several workers.
        delay = min(1.0, self.period)
        while not self.stopping.wait(delay):
            sweep_once(app)
            delay = self.period * random.uniform(0.8, 1.2)
