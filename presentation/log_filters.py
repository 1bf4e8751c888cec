"""Logging filters for ``LOGGING``.

Django logs a refused request (403 ``PermissionDenied``, 400 ``BadRequest``) on
``django.request`` with the exception attached, so every 403 printed a traceback: a user
following a link their role may not use is not a fault. Those records keep their one line
("Forbidden (Permission denied): /path") and lose the traceback; a 5xx keeps it.
"""

from __future__ import annotations

import logging

SERVER_ERROR = 500


class ClientErrorWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < SERVER_ERROR:
            record.exc_info = None
            record.exc_text = None
        return True
