"""Celery autodiscovery imports this module: every labeling task is registered from here."""

from .generation.tasks import execute_task, plan_run, recover
from .quality.tasks import dashboard_refresh

__all__ = ["dashboard_refresh", "execute_task", "plan_run", "recover"]
