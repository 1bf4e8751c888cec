"""Reads of imports: who may see which import job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from accounts.roles import Role, has_role

from ..models import Campaign, ImportJob
from .common import CategoryResolver, check_intent
from .prompts import XstestMapping, xstest_label_of_type


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


@dataclass(frozen=True)
class XstestTypeRow:
    """Where the XSTest rows of one type land: the category and intent named (by the mapping
    or a default), the leaf they resolve to in the campaign's policy version, and the
    problem, if any, every such row would be reported with."""

    kind: str
    label: str
    category: str
    path: str
    intent: str
    problem: str


def xstest_mapping_preview(
    campaign: Campaign,
    mapping: dict[str, Any] | None,
    *,
    default_category: str | None = None,
    default_intent: str | None = None,
) -> list[XstestTypeRow]:
    """Each XSTest type with the category and intent its rows land in, before importing."""
    xstest = XstestMapping.for_import(
        mapping, default_category=default_category, default_intent=default_intent
    )
    resolver = CategoryResolver(campaign.policy_version)
    rows = []
    for kind in xstest.types():
        label = xstest_label_of_type(kind)
        named = xstest.category(kind, label) or default_category or ""
        intent_named = xstest.intent(kind, label) or default_intent or ""
        problems = []
        path = ""
        if named:
            resolved, reason = resolver.resolve(named)
            path = resolved or ""
            if resolved is None:
                problems.append(f"category: {reason}")
        else:
            problems.append("category: missing, and the import has no default category")
        intent = check_intent(intent_named) if intent_named else None
        if intent is None:
            problems.append(
                f"intent: unknown intent {intent_named!r}"
                if intent_named
                else "intent: missing, and the import has no default intent"
            )
        rows.append(
            XstestTypeRow(kind, label, named, path, intent or intent_named, "; ".join(problems))
        )
    return rows
