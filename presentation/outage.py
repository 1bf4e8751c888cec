"""What a request answers while the database is down: 503 with ``Retry-After``, never a 500.

The API answers ``{"detail": "…"}`` (the one error shape); pages answer a minimal HTML page
built without templates, since rendering one would run context processors that query the
database again.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Django wraps the driver's "cannot connect / connection lost" errors in these two.
DATABASE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 10
DATABASE_UNAVAILABLE = "The database is unavailable. Try again in a few seconds."

_PAGE = (
    "<!doctype html>\n"
    '<html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title></head>\n'
    "<body><h1>Service unavailable</h1>\n"
    f"<p>{DATABASE_UNAVAILABLE}</p></body></html>\n"
)


def is_api_request(request: HttpRequest) -> bool:
    """Does this request go to the REST API (answered in JSON)?"""
    return request.path_info.startswith("/api/")


def log_database_error(error: BaseException) -> None:
    """One warning line per refused request, naming the error (health checks name it too)."""
    logger.warning("Database unavailable, answering 503: %s: %s", type(error).__name__, error)


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503: JSON ``{"detail": …}`` under /api/, a plain page elsewhere; both with Retry-After."""
    response: HttpResponse
    if is_api_request(request):
        response = JsonResponse({"detail": DATABASE_UNAVAILABLE}, status=503)
    else:
        response = HttpResponse(_PAGE, status=503, content_type="text/html; charset=utf-8")
        # This page skips the CSP and frame middleware below; it sets their answer itself.
        response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
        response["X-Frame-Options"] = "DENY"
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response
