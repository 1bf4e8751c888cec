"""Celery tasks of routing: they take ids and call a service, nothing else.

Services import this module to enqueue; a task imports its service inside its body, so the
two never import each other at module level (docs/architecture.md, "Dependency rules")."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="labeling.routing.recompute", ignore_result=True)
def recompute(campaign_id: int) -> dict[str, int]:
    """Recompute a campaign's routing ranks and accepted pairs (idempotent)."""
    from .services import routing_recompute

    return routing_recompute(campaign_id=campaign_id)


def enqueue_recompute(campaign_id: int, retry_policy: dict[str, Any] | None = None) -> None:
    options: dict[str, Any] = {"retry_policy": retry_policy} if retry_policy else {}
    recompute.apply_async(args=(campaign_id,), **options)
