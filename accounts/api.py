"""REST API of accounts: the sign-in token, behind the shared sign-in limits."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

from .services import SignInThrottled


class SignInThrottledError(exceptions.Throttled):
    """429 ``{"detail": "…"}`` with ``Retry-After``, worded as the log-in page words it."""

    default_detail = "Too many sign-in attempts."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


class SignInTokenApi(ObtainAuthToken):
    """``POST /api/v1/auth/token/`` (user name and password): DRF's token view.

    The limits apply in the authentication backend; a throttled attempt answers 429.
    """

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return super().post(request, *args, **kwargs)
        except SignInThrottled as throttled:
            raise SignInThrottledError(wait=throttled.retry_after) from None
