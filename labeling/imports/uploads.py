"""What the import page and the import API share about the upload itself and its problem list:
the upload-size limit, checked as the request body arrives, and the problem-list download."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import FileResponse, Http404, HttpRequest

from ..models import Campaign
from .common import ImportTooLarge
from .problem_files import problem_file_for

UPLOAD_SETTING = "IMPORT_MAX_UPLOAD_BYTES"


def upload_too_large(limit: int) -> ImportTooLarge:
    """The error for an upload over ``limit`` bytes."""
    return ImportTooLarge("The upload", limit=limit, setting=UPLOAD_SETTING)


class UploadLimitHandler(FileUploadHandler):
    """Stops an upload once more than ``limit`` bytes of file data arrived: the rest of the
    request body is never read, and at most ``limit`` bytes reach the temporary file."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        if content_length > self.limit:
            raise upload_too_large(self.limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise upload_too_large(self.limit)
        return raw_data  # handed on to the handler that stores the file

    def file_complete(self, file_size: int) -> None:
        return None


def upload_limit_install(request: HttpRequest) -> None:
    """Apply ``settings.IMPORT_MAX_UPLOAD_BYTES`` to ``request`` before its body is read.

    A declared length over the limit is refused at once, without reading a byte; a body that
    grows past it while it is read (no declared length, or a wrong one) is stopped there. Either
    way :class:`ImportTooLarge` is raised. Call it before anything touches ``request.POST`` or
    ``request.FILES`` (the CSRF check does, so the view must be exempt and check it after).
    """
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0  # Django refuses a malformed length itself when it parses the body
    if declared > limit:
        raise upload_too_large(limit)
    handlers = request.upload_handlers
    if isinstance(handlers, list):  # else the body was already read: only its length counted
        handlers.insert(0, UploadLimitHandler(request, limit))


def problem_list_response(*, user_id: int | None, campaign: Campaign, token: str) -> FileResponse:
    """The stored problem list ``token`` as a CSV attachment; 404 unless it is ``user_id``'s,
    for this campaign, and still kept."""
    path = None
    if user_id is not None:
        path = problem_file_for(user_id=user_id, campaign_id=campaign.pk, token=token)
    if path is None:
        raise Http404("No such problem list (they are kept for a day, for who uploaded the file).")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{campaign.slug}-import-problems.csv",
        content_type="text/csv; charset=utf-8",
    )
