"""Import jobs: big uploads are imported by a Celery worker, never inside a web request.

:func:`import_upload` is the one entry of the page and the API. An upload of at most
``IMPORT_JOB_THRESHOLD_BYTES`` once decompressed is imported in the request, for a snappy
answer; anything larger is stored under ``IMPORT_UPLOADS_DIR`` as an :class:`ImportJob` and
enqueued (a gzip file that turns out larger than the bound while the request reads it is rolled
back and handed to a job too, so a request never reads more than the bound). Both run the same
importers (:mod:`.prompts`, :mod:`.candidates`).

All or nothing, in the job as in the request: the job runs the importer inside one transaction
and marks itself succeeded in that same transaction, so rows are kept exactly when the job says
so; a bad line rolls everything back and the job fails with the problems grouped by kind and
the full list as a CSV download. While it runs, a thread of the worker writes the counts and a
heartbeat every :data:`PROGRESS_SECONDS` through a connection of its own (the import's own
connection is inside its transaction, in a COPY on PostgreSQL).

A lost message or a dead worker never leaves a job queued or running for good:
:func:`import_jobs_recover` sends again queued jobs whose message is older than a short stall
and running jobs whose heartbeat stopped. ``attempt`` fences each run, so a worker that was
only slow cannot finish a job another worker has taken over.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files import File
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.db.models import F, Q
from django.utils import timezone

from ..broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from ..database import is_postgresql
from ..models import Campaign, ImportJob
from .candidates import candidate_import
from .common import (
    ImportFailed,
    ImportProgress,
    ImportReport,
    ImportTooLarge,
    Problem,
    TooLargeForRequest,
)
from .prior_labels import LABEL_MAPPING_FIELD, label_mapping_read
from .problem_files import problem_file_store
from .prompts import prompt_import
from .tasks import enqueue_run

logger = logging.getLogger(__name__)

IMPORTERS: dict[str, Callable[..., ImportReport]] = {
    ImportJob.Kind.PROMPTS: prompt_import,
    ImportJob.Kind.CANDIDATES: candidate_import,
}
# How often a running job's counts and heartbeat are written.
PROGRESS_SECONDS = 1.0
# A running job whose heartbeat is older than this lost its worker: it is run again.
LEASE_SECONDS = 60.0
# A queued job whose message is older than this may have lost it: it is sent again (a second
# message is harmless, the claim lets one through).
QUEUED_STALL_SECONDS = 60.0
# Runs a job gets: a file that stops its worker every time (killed for memory, or over
# CELERY_TASK_TIME_LIMIT) fails after this many instead of being sent again for ever.
MAX_ATTEMPTS = 3
# Stored uploads that no unfinished job names (their job was removed with its campaign, or the
# request that stored one died before its job was created) are removed after this long.
ORPHAN_UPLOAD_AGE = timedelta(days=1)
# Problems listed one by one in a failure (the first, by line); the groups count all.
PROBLEMS_LISTED = 100
ERROR_MAX_CHARS = 2000


@dataclass(frozen=True)
class ImportOptions:
    """What the uploader chose besides the file; stored on a job as they are."""

    file_format: str = ""
    default_category: str | None = None
    default_intent: str | None = None
    source_name: str = ""
    # A checked label mapping (LabelMapping.as_dict()): plain JSON, so a job can store it.
    label_mapping: dict[str, Any] | None = None
    # The uploader's XSTest mapping (over the built-in one), when they gave one.
    mapping: dict[str, Any] | None = None

    def importer_kwargs(self, kind: str) -> dict[str, Any]:
        """Keyword arguments of the kind's importer."""
        kwargs: dict[str, Any] = {
            "file_format": self.file_format,
            "default_category": self.default_category or None,
            "default_intent": self.default_intent or None,
            "mapping": self.mapping or None,
        }
        if kind == ImportJob.Kind.CANDIDATES:
            kwargs["source_name"] = self.source_name
            kwargs["label_mapping"] = self.label_mapping
        return kwargs


def label_mapping_of(upload: File | None) -> dict[str, Any] | None:
    """The checked label mapping of an uploaded JSON or YAML file (None without one); a bad
    one raises :class:`ImportFailed` naming ``label_mapping``, before anything is imported."""
    if upload is None:
        return None
    if upload.size is not None and upload.size > settings.REQUEST_BODY_MAX_BYTES:
        raise ImportFailed(
            [Problem(0, LABEL_MAPPING_FIELD, "larger than REQUEST_BODY_MAX_BYTES allows")]
        )
    return label_mapping_read(upload.read()).as_dict()


def import_run(
    *,
    kind: str,
    campaign: Campaign,
    source: str | Path | File,
    filename: str,
    options: ImportOptions,
    progress: ImportProgress | None = None,
    request_limit: int | None = None,
) -> ImportReport:
    """Run the importer of ``kind`` on ``source`` (all or nothing; see the importers)."""
    return IMPORTERS[kind](
        campaign=campaign,
        source=source,
        filename=filename,
        progress=progress,
        request_limit=request_limit,
        **options.importer_kwargs(kind),
    )


def import_upload(
    *,
    campaign: Campaign,
    kind: str,
    upload: File,
    options: ImportOptions,
    user: AbstractBaseUser | AnonymousUser | None,
) -> ImportReport | ImportJob:
    """Import ``upload`` in this request when it is small, else create a job for it.

    Returns the report of an import done here, or the queued job. Raises what the importers
    raise for a small file (:class:`ImportFailed`, :class:`ImportTooLarge`), and
    :class:`BrokerUnavailable` when a job cannot be enqueued (nothing is created then).
    """
    threshold = settings.IMPORT_JOB_THRESHOLD_BYTES
    if threshold and (upload.size or 0) <= threshold:
        try:
            return import_run(
                kind=kind,
                campaign=campaign,
                source=upload,
                filename=upload.name or "",
                options=options,
                request_limit=threshold,
            )
        except TooLargeForRequest:
            upload.seek(0)  # rolled back: the job reads the file from its start
    return import_job_create(
        campaign=campaign, kind=kind, upload=upload, options=options, user=user
    )


def _uploads_folder() -> Path:
    return Path(settings.IMPORT_UPLOADS_DIR)


def _upload_path(job: ImportJob) -> Path:
    """Where a job's upload is stored: built from its id only, never from user input."""
    return _uploads_folder() / Path(job.upload_name).name


def _store(upload: File, target: Path) -> int:
    """Copy ``upload`` to ``target`` (whole or not at all); its size in bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".partial-{target.name}")
    size = 0
    try:
        with partial.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
                size += len(chunk)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def import_job_create(
    *,
    campaign: Campaign,
    kind: str,
    upload: File,
    options: ImportOptions,
    user: AbstractBaseUser | AnonymousUser | None,
) -> ImportJob:
    """Store ``upload`` and create a queued job for it; a worker runs it once committed.

    Raises :class:`BrokerUnavailable` when the broker cannot take the job: the row and the
    stored file are removed again, so nothing is left behind.
    """
    if kind not in IMPORTERS:
        raise ValueError(f"unknown import kind {kind!r}")
    job = ImportJob(
        campaign=campaign,
        kind=kind,
        filename=Path(upload.name or "upload").name[:255],
        options=asdict(options),
        created_by=user if user is not None and user.is_authenticated else None,  # type: ignore[misc]
    )
    job.upload_name = str(job.id)
    stored = _upload_path(job)
    created = False
    try:
        job.upload_bytes = _store(upload, stored)
        with transaction.atomic():
            job.enqueued_at = timezone.now()
            job.save(force_insert=True)
            created = True
            job_id = str(job.id)
            # Not robust: a publish error leaves the commit (below) and the job is removed.
            transaction.on_commit(lambda: enqueue_run(job_id, retry_policy=QUICK_RETRY))
    except BROKER_ERRORS as error:
        if created:
            ImportJob.objects.filter(pk=job.pk).delete()
        stored.unlink(missing_ok=True)
        raise BrokerUnavailable() from error
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    return job


def _claim(job_id: uuid.UUID) -> int | None:
    """Take a job for this worker: a queued one, or a running one whose worker stopped beating.

    A conditional UPDATE, so of two deliveries one wins; the new ``attempt`` (returned) fences
    the run. ``None`` when there is nothing to run (finished, taken, or removed).
    """
    now = timezone.now()
    claimable = Q(status=ImportJob.Status.QUEUED) | Q(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=LEASE_SECONDS)
    )
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportJob.Status.RUNNING,
        attempt=F("attempt") + 1,
        heartbeat_at=now,
        started_at=now,
        lines_read=0,
        imported=0,
        problem_count=0,
        error="",
    )
    if not claimed:
        return None
    return ImportJob.objects.values_list("attempt", flat=True).get(pk=job_id)


class _ProgressReporter:
    """While a job runs: its counts and heartbeat, written every :data:`PROGRESS_SECONDS` by a
    thread with a database connection of its own (autocommit, so the page sees them at once).

    Writes only while the job is still this run's (``attempt``) and running. On SQLite, which
    lets one connection write at a time (the import's), it writes nothing: the page shows the
    result when the job ends.
    """

    def __init__(self, *, job_id: uuid.UUID, attempt: int, progress: ImportProgress) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.progress = progress
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"import-job-{job_id}-progress", daemon=True
        )

    def __enter__(self) -> _ProgressReporter:
        if is_postgresql():
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        connection = connections.create_connection(DEFAULT_DB_ALIAS)
        table = connection.ops.quote_name(ImportJob._meta.db_table)
        sql = (
            f"UPDATE {table} SET lines_read = %s, imported = %s, problem_count = %s, "  # noqa: S608
            "heartbeat_at = %s WHERE id = %s AND attempt = %s AND status = %s"
        )
        try:
            while not self._stopped.wait(PROGRESS_SECONDS):
                progress = self.progress
                try:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            sql,
                            [
                                progress.lines_read,
                                progress.imported,
                                progress.problems,
                                timezone.now(),
                                self.job_id,
                                self.attempt,
                                ImportJob.Status.RUNNING,
                            ],
                        )
                except DatabaseError:
                    # A missed beat is harmless; many missed beats hand the job to another run.
                    # Closed, so that the next beat connects again (the database restarted?).
                    logger.warning("cannot write the progress of import job %s", self.job_id)
                    connection.close()
        finally:
            connection.close()


class _RunTakenOver(Exception):
    """The job is no longer this run's (another attempt claimed it): roll back, keep nothing."""


def import_job_run(*, job_id: uuid.UUID | str) -> ImportJob | None:
    """Run a queued job: import its file all or nothing and record the outcome.

    Safe to deliver twice (see :func:`_claim`). A database outage leaves the job running with
    its heartbeat stopped, so :func:`import_jobs_recover` runs it again once the lease is over;
    any other error fails the job with the reason.
    """
    key = uuid.UUID(str(job_id))
    attempt = _claim(key)
    if attempt is None:
        return ImportJob.objects.filter(pk=key).first()
    job = ImportJob.objects.select_related("campaign__policy_version").get(pk=key)
    progress = ImportProgress()
    options = ImportOptions(**job.options)
    try:
        # The import's transaction ends (commits) before the reporter stops.
        with (
            _ProgressReporter(job_id=key, attempt=attempt, progress=progress),
            transaction.atomic(),
        ):
            report = import_run(
                kind=job.kind,
                campaign=job.campaign,
                source=_upload_path(job),
                filename=job.filename,
                options=options,
                progress=progress,
            )
            # In the import's transaction: the rows are kept exactly when the job says so.
            if not _finish(
                key,
                attempt,
                status=ImportJob.Status.SUCCEEDED,
                lines_read=progress.lines_read,
                imported=report.created,
                report=report.as_dict(),
            ):
                raise _RunTakenOver()
    except _RunTakenOver:
        return ImportJob.objects.filter(pk=key).first()
    except ImportFailed as error:
        token = problem_file_store(
            error=error, user_id=job.created_by_id, campaign_id=job.campaign_id
        )
        _finish(
            key,
            attempt,
            status=ImportJob.Status.FAILED,
            lines_read=progress.lines_read,
            problem_count=error.total,
            problems=[problem.as_dict() for problem in error.problems[:PROBLEMS_LISTED]],
            problem_groups=[group.as_dict() for group in error.shown_groups],
            other_problems=error.not_shown,
            problems_token=token or "",
            error="Nothing was imported.",
        )
    except FileNotFoundError:
        # Web and workers must share IMPORT_UPLOADS_DIR (GRAYLAB_DATA_DIR); say so, not a path.
        logger.exception("import job %s: its upload is not in IMPORT_UPLOADS_DIR", key)
        _finish(
            key,
            attempt,
            status=ImportJob.Status.FAILED,
            error="The uploaded file is not where this worker looks for it (IMPORT_UPLOADS_DIR); "
            "nothing was imported. Upload it again.",
        )
    except ImportTooLarge as error:
        _finish(
            key,
            attempt,
            status=ImportJob.Status.FAILED,
            lines_read=progress.lines_read,
            error=str(error),
        )
    except (OperationalError, InterfaceError):
        logger.warning("import job %s stopped by a database error; it will run again", key)
        raise
    except Exception as error:
        logger.exception("import job %s failed", key)
        reason = f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]
        _finish(
            key,
            attempt,
            status=ImportJob.Status.FAILED,
            lines_read=progress.lines_read,
            error=reason,
        )
    return ImportJob.objects.filter(pk=key).first()


def _finish(job_id: uuid.UUID, attempt: int, *, status: str, **fields: Any) -> bool:
    """End the job as ``status`` if it is still this run's; remove its upload after commit.

    Whether it was (a conditional UPDATE on ``attempt``)."""
    upload_name = ImportJob.objects.filter(pk=job_id).values_list("upload_name", flat=True).first()
    if upload_name is None:
        return False  # removed meanwhile, with its campaign
    now = timezone.now()
    finished = ImportJob.objects.filter(
        pk=job_id, attempt=attempt, status=ImportJob.Status.RUNNING
    ).update(status=status, finished_at=now, heartbeat_at=now, upload_name="", **fields)
    if finished and upload_name:
        path = _uploads_folder() / Path(upload_name).name
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return bool(finished)


def import_jobs_recover(
    *, stall_seconds: float | None = None, lease_seconds: float | None = None
) -> dict[str, int]:
    """The sweep for import jobs; idempotent, so any number of sweepers may call it.

    - a running job whose heartbeat is older than the lease lost its worker (killed, or hung):
      back to queued and sent again (its rows were never committed: nothing is imported twice),
      or failed once it has had :data:`MAX_ATTEMPTS` runs;
    - a queued job whose last message is older than the stall may have lost it (the broker
      restarted, say): sent again; the claim lets only one message through.

    A job is re-sent by at most one sweeper (a conditional UPDATE of ``enqueued_at`` decides).
    A broker that is down leaves the job as it is, for the next sweep. Stored uploads that no
    unfinished job names are removed after :data:`ORPHAN_UPLOAD_AGE`. Returns counts.
    """
    now = timezone.now()
    stall = timedelta(seconds=QUEUED_STALL_SECONDS if stall_seconds is None else stall_seconds)
    lease = timedelta(seconds=LEASE_SECONDS if lease_seconds is None else lease_seconds)
    figures = {"expired": 0, "resent": 0, "unsent": 0, "failed": 0}
    expired = ImportJob.objects.filter(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - lease
    ).values_list("pk", "attempt")
    for job_id, attempt in list(expired):
        if attempt >= MAX_ATTEMPTS:
            reason = (
                f"The worker stopped {attempt} times while importing this file (killed, or over "
                "CELERY_TASK_TIME_LIMIT); nothing was imported."
            )
            if _finish(job_id, attempt, status=ImportJob.Status.FAILED, error=reason):
                figures["failed"] += 1
            continue
        taken = ImportJob.objects.filter(
            pk=job_id, status=ImportJob.Status.RUNNING, heartbeat_at__lt=now - lease
        ).update(status=ImportJob.Status.QUEUED, enqueued_at=now)
        if taken:
            figures["expired"] += 1
            figures["unsent"] += not _send(job_id)
    stale = (
        ImportJob.objects.filter(status=ImportJob.Status.QUEUED)
        .filter(Q(enqueued_at__lt=now - stall) | Q(enqueued_at__isnull=True))
        .values_list("pk", "enqueued_at")
    )
    for job_id, enqueued_at in list(stale):
        taken = ImportJob.objects.filter(
            pk=job_id, status=ImportJob.Status.QUEUED, enqueued_at=enqueued_at
        ).update(enqueued_at=now)
        if taken:
            figures["resent"] += 1
            figures["unsent"] += not _send(job_id)
    figures["orphans_removed"] = _orphan_uploads_remove()
    return figures


def _orphan_uploads_remove() -> int:
    folder = _uploads_folder()
    if not folder.is_dir():
        return 0
    cutoff = time.time() - ORPHAN_UPLOAD_AGE.total_seconds()
    old = {path.name: path for path in folder.iterdir() if _modified(path) < cutoff}
    if not old:
        return 0
    kept = set(
        ImportJob.objects.filter(
            status__in=(ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
        ).values_list("upload_name", flat=True)
    )
    removed = 0
    for name, path in old.items():
        if name not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another sweep
        return time.time()


def _send(job_id: uuid.UUID) -> bool:
    try:
        enqueue_run(str(job_id), retry_policy=QUICK_RETRY)
    except BROKER_ERRORS:
        logger.warning("cannot send import job %s again: the broker is unavailable", job_id)
        return False
    return True
