"""The request limits shared by the middleware, the API parser and the API error handler:
the body size (``DATA_UPLOAD_MAX_MEMORY_SIZE``) and the JSON nesting depth (``JSON_MAX_DEPTH``).
"""

from __future__ import annotations

import codecs

from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions, status

from .nesting import json_too_deep


class PayloadTooLarge(exceptions.APIException):
    """The request body is over the size limit (413)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def body_limit() -> int | None:
    """The largest request body read into memory, in bytes (``None``: no limit)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_message(limit: int | None = None) -> str:
    """The reason given with a 413."""
    limit = body_limit() if limit is None else limit
    return f"The request body is larger than {limit} bytes."


def declared_length(request: HttpRequest) -> int:
    """The request's ``Content-Length`` (0 when absent or malformed, as Django reads it)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def json_depth_problem(body: bytes, encoding: str = "utf-8") -> str | None:
    """Why a JSON body nests too deeply (``"JSON nested deeper than N levels (…)"``), or None.

    The scan reads UTF-8; a body in another text encoding is re-encoded first, and one that
    does not decode is left for the parser to refuse.
    """
    if codecs.lookup(encoding).name != "utf-8":
        try:
            body = body.decode(encoding).encode("utf-8", "surrogatepass")
        except (UnicodeError, LookupError):
            return None
    too_deep = json_too_deep(body, settings.JSON_MAX_DEPTH)
    return too_deep.message("JSON") if too_deep else None
