"""Roles are Django groups. Each role sees only the parts of the app it may use."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest


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


# (label, url name, roles that see it). Order is the order in the navigation bar.
NAVIGATION: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("My work", "labeling:my_work", (Role.ANNOTATOR, Role.REVIEWER)),
    ("Campaigns", "labeling:campaign_list", (Role.RESEARCHER, Role.ADMIN)),
    ("Review", "labeling:review_queue", (Role.REVIEWER, Role.ADMIN)),
    ("Dashboards", "labeling:dashboards", (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN)),
    ("Exports", "exports:list", (Role.RESEARCHER, Role.ADMIN)),
    ("Model endpoints", "labeling:endpoint_list", (Role.ADMIN,)),
    ("Policy", "policy:taxonomy", (Role.ADMIN,)),
    ("Rubric", "policy:rubric_current", tuple(ALL_ROLES)),
    ("API", "api-docs", (Role.RESEARCHER, Role.ADMIN)),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the navigation entries this user may use."""
    from django.urls import NoReverseMatch, reverse

    roles = user_roles(request.user)
    items = []
    for label, url_name, allowed in NAVIGATION:
        if roles & set(allowed):
            try:
                items.append({"label": label, "url": reverse(url_name)})
            except NoReverseMatch:
                continue  # that part of the app is not installed yet
    return {"nav_items": items, "user_roles": sorted(roles)}


def role_required(*roles: str) -> Any:
    """View decorator: signed-in users without one of ``roles`` get 403 (anonymous: log in)."""
    from functools import wraps

    from django.contrib.auth.views import redirect_to_login
    from django.core.exceptions import PermissionDenied

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def role_permission(*roles: str) -> type:
    """A DRF permission class allowing only users that hold one of ``roles``."""
    from rest_framework.permissions import BasePermission

    class HasRole(BasePermission):
        message = f"This needs one of the roles: {', '.join(roles)}."

        def has_permission(self, request: Any, view: Any) -> bool:
            return bool(request.user and has_role(request.user, *roles))

    HasRole.__name__ = "HasRole_" + "_".join(roles)
    return HasRole
