"""URLs for the in-process outage tests: views and a middleware failing as a lost database does.

Only the failure is staged; the middleware, the handler and Django's handling are the real ones.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

LOST = "connection to server at 127.0.0.1 failed: Connection refused"


class FailingApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        raise OperationalError(LOST)


@login_not_required
def failing_plain_api(request: HttpRequest) -> HttpResponse:
    raise InterfaceError("connection already closed")


@login_not_required
def failing_page(request: HttpRequest) -> HttpResponse:
    raise OperationalError(LOST)


@login_not_required
def crashing_page(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug, not an outage")


@login_not_required
def fine(request: HttpRequest) -> HttpResponse:
    return HttpResponse("fine")


class FailingSessionMiddleware:
    """Stands where the session middleware meets a lost database: it raises before any view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.endswith("/session-lookup/"):
            raise OperationalError(LOST)
        return self.get_response(request)


urlpatterns = [
    path("api/broken/", FailingApi.as_view()),
    path("api/plain-broken/", failing_plain_api),
    path("broken/", failing_page),
    path("crash/", crashing_page),
    path("api/session-lookup/", fine),
    path("session-lookup/", fine),
    path("fine/", fine),
]
