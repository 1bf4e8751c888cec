"""Graylab project package: settings, URLs, Celery app, roles and site-wide views."""

from .celery import app as celery_app

__all__ = ["celery_app"]
