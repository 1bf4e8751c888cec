"""Reads of the user admin: the filtered user list, one user with roles, memberships and log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch, Q, QuerySet

from accounts.models import UserChange
from accounts.roles import ALL_ROLES

from .memberships import membership_kinds

ACTIVE_FILTERS = {"active": True, "inactive": False}


def user_list(*, search: str = "", role: str = "", active: str = "") -> QuerySet[Any]:
    """Users by name, filtered by a search over name and e-mail, a role and the active state
    (``active``/``inactive``; anything else shows both). A superuser counts as every role."""
    users = (
        get_user_model()
        .objects.prefetch_related(Prefetch("groups", queryset=Group.objects.order_by("name")))
        .order_by("username")
    )
    search = search.strip()
    if search:
        users = users.filter(
            Q(username__icontains=search)
            | Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    if role in {str(value) for value in ALL_ROLES}:
        users = users.filter(Q(groups__name=role) | Q(is_superuser=True)).distinct()
    if active in ACTIVE_FILTERS:
        users = users.filter(is_active=ACTIVE_FILTERS[active])
    return users


def role_names(user: Any) -> list[str]:
    """The user's roles in the order of ``ALL_ROLES`` (every role for a superuser)."""
    if user.is_superuser:
        return [str(role) for role in ALL_ROLES]
    held = {group.name for group in user.groups.all()}
    return [str(role) for role in ALL_ROLES if role in held]


def user_memberships(user: Any) -> list[dict[str, Any]]:
    """Per membership kind: its label, note and the objects the user is a member of."""
    return [
        {"kind": kind, "label": kind.label, "note": kind.note, "objects": list(kind.of(user))}
        for kind in membership_kinds()
    ]


def user_changes(user: Any, limit: int = 100) -> QuerySet[UserChange]:
    return UserChange.objects.filter(user=user).select_related("changed_by")[:limit]
