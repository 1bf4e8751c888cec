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
from .services import sign_in_attempt_begin, sign_in_attempt_succeed


class ThrottledModelBackend(ModelBackend):
    """Counts the attempt first (raising ``SignInThrottled`` before any password check when a
    limit is reached), then checks the password: a right one stops counting, a wrong one
    raises ``PermissionDenied`` (``authenticate`` answers ``None`` and tries no other backend).
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
