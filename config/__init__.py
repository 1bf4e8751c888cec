"""Graylab project package: settings, URLs, the Celery app, health and the demo runner."""

from .celery import app as celery_app

__all__ = ["celery_app"]
