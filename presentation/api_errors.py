"""The one error shape of the REST API, set as ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``.

Bad input answers ``{"field": ["reason", ...]}`` (400); every other error answers
``{"detail": "…"}`` with its status. Views raise and let this handler answer: DRF's
exceptions, Django's ``ValidationError``, ``PermissionDenied`` and ``Http404``, and domain
errors that name their bad fields (:class:`FieldErrors`). A body over the size limit
(Django's ``RequestDataTooBig``) answers 413; a database outage (``OperationalError``/
``InterfaceError``) answers 503 with ``Retry-After``. Anything else is a server error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from .limits import PayloadTooLarge, too_large_message
from .outage import DATABASE_ERRORS, DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, log_database_error


@runtime_checkable
class FieldErrors(Protocol):
    """A domain error that names its bad fields: the handler answers it 400 with that dict.

    ``as_dict`` returns ``{field: [reason, ...]}``, the shape DRF and Django forms use.
    """

    def as_dict(self) -> Mapping[str, list[str]]: ...


class Conflict(exceptions.APIException):
    """The request is valid but the current state refuses it (409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class DatabaseUnavailable(exceptions.APIException):
    """The database cannot be reached (503); ``wait`` becomes the ``Retry-After`` header."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = DATABASE_UNAVAILABLE
    default_code = "database_unavailable"
    wait = RETRY_AFTER_SECONDS


class ServiceUnavailable(exceptions.APIException):
    """A service the request needs (e.g. the task broker) is down (503), with ``Retry-After``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable. Try again shortly."
    default_code = "service_unavailable"
    wait = RETRY_AFTER_SECONDS


def _as_api_exception(exc: Exception) -> Exception:
    """The DRF exception that stands for ``exc`` (DRF's own handler maps 404 and 403)."""
    if isinstance(exc, DATABASE_ERRORS):
        log_database_error(exc)
        return DatabaseUnavailable()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(too_large_message())
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(as_serializer_error(exc))
        return exceptions.ValidationError({"detail": _text(exc.messages)})
    if isinstance(exc, FieldErrors):
        return exceptions.ValidationError(dict(exc.as_dict()))
    return exc


def _text(messages: Any) -> str:
    """One message from a message, a list of them, or ``{field: messages}``."""
    if isinstance(messages, Mapping):
        return "; ".join(f"{field}: {_text(reasons)}" for field, reasons in messages.items())
    if isinstance(messages, list | tuple):
        return " ".join(_text(message) for message in messages)
    return str(messages)


def _validation_body(data: Any) -> dict[str, Any]:
    """``{field: [reason]}``; a bare message or list of messages becomes ``{"detail": "…"}``."""
    if not isinstance(data, Mapping):
        return {"detail": _text(data)}
    if set(data) == {"detail"} and not isinstance(data["detail"], Mapping):
        return {"detail": _text(data["detail"])}
    # A field's reasons are always a list; nested serializers and list items keep their shape.
    return {
        field: reasons if isinstance(reasons, list | Mapping) else [reasons]
        for field, reasons in data.items()
    }


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer ``exc`` in the API's one error shape, or ``None`` for a server error."""
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(response.data)
    elif not (isinstance(response.data, Mapping) and set(response.data) == {"detail"}):
        response.data = {"detail": _text(response.data)}
    return response
