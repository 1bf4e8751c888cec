"""The API's JSON parser: nesting depth and size are bounded before ``json.loads``.

Set as the default parser in ``REST_FRAMEWORK``. DRF's own parser lets ``RecursionError`` from
deeply nested input become a 500; this one answers 400 past ``JSON_MAX_DEPTH`` levels, in the
API's one error shape ``{"detail": "…"}``. DRF hands JSON parsers ``request.body``, so Django
refuses a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` first (answered 413 by ``api_errors``); the
parser checks the size again for a stream handed to it directly. It imports nothing that
imports DRF's views: DRF imports it while defining ``APIView``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework import exceptions, parsers
from rest_framework.utils import json

from .limits import PayloadTooLarge, body_limit, json_depth_problem, too_large_message


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a size limit (413) and a depth limit (400) checked first."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = _text_encoding(parser_context or {})
        limit = body_limit()
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise PayloadTooLarge(too_large_message(limit))
        problem = json_depth_problem(body, encoding)
        if problem:
            raise exceptions.ParseError(problem)
        try:
            text = body.decode(encoding)
            parse_constant = json.strict_constant if self.strict else None
            return json.loads(text, parse_constant=parse_constant)
        except RecursionError as error:
            # The depth scan runs first; this only guards a limit set above what Python allows.
            raise exceptions.ParseError("JSON nested too deeply to parse.") from error
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from error


def _text_encoding(parser_context: Mapping[str, Any]) -> str:
    """The body's charset, as DRF picks it; a name that is no text codec (``bz2_codec`` would
    decompress the body past the size limit) is refused."""
    encoding = str(parser_context.get("encoding") or settings.DEFAULT_CHARSET)
    try:
        "".encode(encoding)
    except (LookupError, UnicodeError) as error:
        raise exceptions.ParseError(
            f'Unsupported charset "{encoding}" in request Content-Type header.'
        ) from error
    return encoding
