"""The Celery application.

Workers run ``celery -A config worker -Q default,generation,grading,exports``."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

from .sweeper import JobSweep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("graylab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "generation", "grading", "exports")]
# Each feature folder with Celery tasks keeps them in its own tasks.py.
app.autodiscover_tasks(
    [
        "labeling.generation",
        "labeling.grading",
        "labeling.imports",
        "labeling.quality",
        "labeling.routing",
        "exports",
    ]
)
# Every worker sweeps the job tables in a thread of its own (see config/sweeper.py).
app.steps["worker"].add(JobSweep)


@app.task(name="graylab.ping", ignore_result=False)
def ping(value: str) -> str:
    """Round-trip check used by health probes and tests: echoes its argument."""
    return value
