"""The authentication backend: Django's model backend behind the shared sign-in limits.

Every way in (the log-in page, the admin log-in, the API token) checks a password through
``django.contrib.auth.authenticate``, so the limits sit here, where none of them can miss it.

``AUTHENTICATION_BACKENDS`` lists Django's own ``ModelBackend`` after this one only so that
sessions signed in through it stay valid; a wrong password raises ``PermissionDenied`` here,
which ends ``authenticate`` before that backend could check the password a second time,
outside the limits.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .addresses import client_address
from .roles import Role, has_role
from .services import sign_in_attempt_begin, sign_in_attempt_succeed

# Accounts change through the user pages, which keep the audit log and the rules that keep an
# install administrable; in the Django admin, admins may look at users and groups only.
ACCOUNT_WRITE_PERMISSIONS = frozenset(
    f"auth.{verb}_{model}" for verb in ("add", "change", "delete") for model in ("user", "group")
)


def _is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_active", False)) and has_role(user, Role.ADMIN)


class ThrottledModelBackend(ModelBackend):
    """Counts the attempt first (raising ``SignInThrottled`` before any password check when a
    limit is reached), then checks the password: a right one stops counting, a wrong one
    raises ``PermissionDenied`` (``authenticate`` answers ``None`` and tries no other backend).

    It also grants the admin role the Django admin's model permissions (the admin's staff
    flag follows the role), so admins need no per-model permission rows.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ticket = sign_in_attempt_begin(
            username=str(username),
            address=client_address(request) if request is not None else None,
        )
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            raise PermissionDenied
        sign_in_attempt_succeed(ticket=ticket)
        return user

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        """The admin role may do everything in the Django admin but write accounts."""
        if _is_admin(user_obj) and perm not in ACCOUNT_WRITE_PERMISSIONS:
            return True
        return super().has_perm(user_obj, perm, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        return _is_admin(user_obj) or super().has_module_perms(user_obj, app_label)

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        # The model backend's own async path would skip the limits: go through the sync one.
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )
