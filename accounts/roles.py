"""Roles are Django groups. Each role sees only the parts of the app it may use.

This module loads no model, so app configs can name roles while the registry is loading."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(StrEnum):
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    RESEARCHER = "researcher"
    ADMIN = "admin"


ALL_ROLES = tuple(Role)


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The role names of a user; superusers hold every role. Cached on the user object."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_graylab_roles", None)
    if cached is None:
        if getattr(user, "is_superuser", False):
            cached = frozenset(ALL_ROLES)
        else:
            cached = frozenset(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        user._graylab_roles = cached  # type: ignore[attr-defined]
    return cached


def remember_roles(user: AbstractBaseUser, names: Any) -> None:
    """Keep role names read by another query (``user_roles`` then asks nothing more).
    Superusers keep every role whatever their groups."""
    if not getattr(user, "is_superuser", False):
        user._graylab_roles = frozenset(str(name) for name in names or ())  # type: ignore[attr-defined]


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    """True when the user holds at least one of ``roles``."""
    return bool(user_roles(user) & set(roles))
