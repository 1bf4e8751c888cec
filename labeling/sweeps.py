"""What the job sweeps of several features share (config/sweeper.py runs them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.db.models import Q


def sweep_claimed(run: models.Model, now: datetime, stall: timedelta) -> bool:
    """Whether this sweep is the one to send a run's stalled work again: a conditional UPDATE
    of its ``swept_at``, so one sweep per stall period gets through, whichever worker runs it."""
    return bool(
        type(run)
        ._default_manager.filter(pk=run.pk)
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=now - stall))
        .update(swept_at=now)
    )
