"""Reads of imports: who may see which import job."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Role, has_role

from ..models import ImportJob


def import_jobs_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ImportJob]:
    """Import jobs the user may see: admins see all, researchers their own, others none."""
    queryset = ImportJob.objects.select_related("campaign", "created_by")
    if has_role(user, Role.ADMIN):
        return queryset
    if has_role(user, Role.RESEARCHER):
        return queryset.filter(created_by_id=user.pk)
    return queryset.none()


def import_job_for_user(
    user: AbstractBaseUser | AnonymousUser, job_id: Any, *, campaign_slug: str | None = None
) -> ImportJob:
    """The one permission-checked fetch of an import job (404 when absent, not the user's, or
    of another campaign than ``campaign_slug``)."""
    try:
        key = uuid.UUID(str(job_id))
    except ValueError as error:
        raise Http404("No such import job") from error
    jobs = import_jobs_for_user(user)
    if campaign_slug is not None:
        jobs = jobs.filter(campaign__slug=campaign_slug)
    try:
        return jobs.get(pk=key)
    except ImportJob.DoesNotExist as error:
        raise Http404("No such import job") from error
