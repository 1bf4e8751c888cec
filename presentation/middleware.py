"""Two guards that sit above the session and authentication middleware.

``DatabaseUnavailableMiddleware`` turns a database outage into 503 (JSON under /api/, a plain
page elsewhere), whichever layer below it met the error. ``RequestBodyLimitMiddleware`` refuses
bodies over the size limit (413) and JSON nested too deeply (400) before any view parses them,
including views that list DRF's own JSON parser (the token view, the policy import) and pages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from .limits import body_limit, declared_length, json_depth_problem, too_large_message
from .outage import (
    DATABASE_ERRORS,
    database_unavailable_response,
    is_api_request,
    log_database_error,
)

GetResponse = Callable[[HttpRequest], HttpResponseBase]
_DATABASE_ERROR_ATTRIBUTE = "_presentation_database_error"


def _remember_database_error(
    sender: Any, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Mark a request whose uncaught exception was a database error.

    Django turns an exception raised in any middleware or view into a 500 response at that
    layer (``convert_exception_to_response``), so the middleware above never sees it raised;
    this signal fires inside that handler, while the exception is still the current one.
    """
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, DATABASE_ERRORS):
        setattr(request, _DATABASE_ERROR_ATTRIBUTE, error)


class DatabaseUnavailableMiddleware:
    """503 instead of a 500 traceback when the database cannot be reached.

    Errors raised by a view arrive in ``process_exception``; errors raised by middleware below
    (a session or user lookup) arrive as a 500 response from Django's handler, marked by the
    ``got_request_exception`` receiver. Goes above the session middleware.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        got_request_exception.connect(
            _remember_database_error, dispatch_uid="presentation.database_unavailable"
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        error = getattr(request, _DATABASE_ERROR_ATTRIBUTE, None)
        if error is not None and response.status_code >= 500:
            log_database_error(error)
            return database_unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            log_database_error(exception)
            return database_unavailable_response(request)
        return None


class RequestBodyLimitMiddleware:
    """413 for a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, 400 for JSON past ``JSON_MAX_DEPTH``.

    Multipart bodies are left to Django, which streams their files to disk and limits only
    their other fields. A JSON body is read here (Django's ``request.body``; views read it
    again from memory) and scanned for depth without parsing it.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        """The answer refusing this request's body, or None to let it through."""
        length = declared_length(request)
        if not length:
            return None
        content_type = request.content_type or ""
        limit = body_limit()
        if limit is not None and length > limit and content_type != "multipart/form-data":
            return _refuse(request, 413, too_large_message(limit))
        charset = _text_charset(request)
        is_json = content_type == "application/json" or content_type.endswith("+json")
        if is_json and charset is not None:
            problem = json_depth_problem(request.body, charset)
            if problem:
                return _refuse(request, 400, problem)
        return None


def _text_charset(request: HttpRequest) -> str | None:
    """The body's declared text encoding, or None when it names no text codec (the view's
    parser refuses such a charset; decoding with e.g. ``bz2_codec`` would decompress)."""
    charset = (request.content_params or {}).get("charset") or settings.DEFAULT_CHARSET
    try:
        "".encode(charset)
    except (LookupError, UnicodeError):
        return None
    return charset


def _refuse(request: HttpRequest, status: int, reason: str) -> HttpResponse:
    if is_api_request(request):
        return JsonResponse({"detail": reason}, status=status)
    return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
