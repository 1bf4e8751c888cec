"""The full problem list of a failed web or API import, kept for a day as a CSV download.

One file per failed import, ``<IMPORT_PROBLEMS_DIR>/<user id>/<campaign id>-<token>.csv``: the
folder names its owner, so only the user who uploaded the file can fetch it, and the token is
random, so its name cannot be guessed. Files older than :data:`PROBLEM_FILE_MAX_AGE` are
removed whenever a new one is stored, and never served.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from .common import ImportFailed

PROBLEM_FILE_MAX_AGE = timedelta(days=1)
logger = logging.getLogger(__name__)


def _folder() -> Path:
    return Path(settings.IMPORT_PROBLEMS_DIR)


def _path(*, user_id: int, campaign_id: int, token: str) -> Path:
    return _folder() / str(user_id) / f"{campaign_id}-{token}.csv"


def problem_file_store(*, error: ImportFailed, user_id: int | None, campaign_id: int) -> str | None:
    """Keep every problem of ``error`` as a CSV file for ``user_id``; its token.

    Takes over ``error.full_list`` when there is one (moved, not copied), else writes
    ``error.problems``. Answers ``None`` when there is no user or the file cannot be written:
    the failure is still reported, only without its download.
    """
    if user_id is None:
        error.discard()
        return None
    token = secrets.token_urlsafe(18)
    target = _path(user_id=user_id, campaign_id=campaign_id, token=token)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if error.full_list is not None:
            os.replace(error.full_list, target)
            error.full_list = None
        else:
            with target.open("w", newline="", encoding="utf-8") as handle:
                error.write_csv(handle)
        problem_files_sweep()
    except OSError:
        logger.warning("cannot keep the problem list of a failed import", exc_info=True)
        error.discard()
        return None
    return token


def problem_file_for(*, user_id: int, campaign_id: int, token: str) -> Path | None:
    """The stored problem list ``token`` of ``user_id`` in a campaign, if it is still kept."""
    path = _path(user_id=user_id, campaign_id=campaign_id, token=token)
    try:
        modified = path.stat().st_mtime
    except OSError:
        return None
    if time.time() - modified > PROBLEM_FILE_MAX_AGE.total_seconds():
        return None
    return path


def problem_files_sweep() -> int:
    """Remove problem lists (and lists left behind by interrupted imports) older than a day;
    how many were removed."""
    cutoff = time.time() - PROBLEM_FILE_MAX_AGE.total_seconds()
    removed = 0
    folder = _folder()
    if not folder.is_dir():
        return 0
    for path in folder.rglob("*.csv"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:  # removed meanwhile by another process's sweep
            continue
    for path in folder.glob(".partial-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
