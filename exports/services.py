"""Writes: create an export (and enqueue it), run it, preview its counts."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from labeling.broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from labeling.database import is_postgresql
from labeling.models import Campaign, Grader, GraderVersion
from policy.models import PolicyVersion
from policy.rubric import DEFAULT_SEVERITY_TO_SAFETY

from .agreement import selection_agreement
from .archive import ArchiveWriter
from .formats import format_module
from .manifest import build_manifest, dataset_card
from .models import Export
from .pipeline import PipelineResult, run_grades_pipeline, run_pipeline
from .selectors import (
    consensus_labels,
    export_grade_count,
    export_grader_version,
    export_pair_count,
    export_policy_version,
    latest_consensus_run,
    stream_export_rows,
    stream_grade_rows,
)
from .spec import CONSENSUS, PREFERENCE_FORMATS, ExportSpec, parse_spec, spec_from_stored
from .tasks import run_export, run_learnability

logger = logging.getLogger(__name__)
ERROR_MAX_CHARS = 2000


def exports_root() -> Path:
    return Path(settings.EXPORTS_DIR)


def export_folder(export: Export) -> Path:
    """Where a completed export's files live. Built from the id only, never from user input."""
    return exports_root() / str(export.id)


def export_archive_path(export: Export) -> Path | None:
    """The archive of a completed export, if it is there."""
    if export.status != Export.Status.COMPLETED or not export.archive_name:
        return None
    path = export_folder(export) / Path(export.archive_name).name
    return path if path.is_file() else None


def _validated_spec(data: dict[str, Any]) -> ExportSpec:
    spec = parse_spec(data)
    known = set(Campaign.objects.filter(slug__in=spec.campaigns).values_list("slug", flat=True))
    missing = sorted(set(spec.campaigns) - known)
    if missing:
        raise ValidationError({"campaigns": [f"unknown campaign: {', '.join(missing)}"]})
    if (
        spec.policy_version is not None
        and not PolicyVersion.objects.filter(number=spec.policy_version).exists()
    ):
        raise ValidationError({"policy_version": ["no such policy version"]})
    return _pin_consensus_runs(_pin_grader_version(spec))


def _pin_consensus_runs(spec: ExportSpec) -> ExportSpec:
    """The spec with each campaign's newest consensus run fixed (consensus labels only), so
    a later computation never changes what the export holds; refused when one has none."""
    if spec.labels != CONSENSUS:
        return spec
    runs = []
    for slug in spec.campaigns:
        run = latest_consensus_run(slug)
        if run is None:
            raise ValidationError(
                {
                    "labels": [
                        f"no consensus computed for campaign {slug}: compute it on its quality "
                        f"page or with manage.py consensus --campaign {slug}"
                    ]
                }
            )
        runs.append(run.pk)
    return dataclasses.replace(spec, consensus_runs=tuple(runs))


def _pin_grader_version(spec: ExportSpec) -> ExportSpec:
    """The spec with its grader version fixed: the one named, else the grader's newest that
    graded the selection. The export then means the same whatever versions come later."""
    if spec.grader is None:
        return spec
    if not Grader.objects.filter(name=spec.grader).exists():
        raise ValidationError({"grader": [f"no grader named {spec.grader!r}"]})
    if (
        spec.grader_version is not None
        and not GraderVersion.objects.filter(
            grader__name=spec.grader, number=spec.grader_version
        ).exists()
    ):
        raise ValidationError(
            {"grader_version": [f"grader {spec.grader} has no version {spec.grader_version}"]}
        )
    version = export_grader_version(spec, as_of=timezone.now())
    if version is None:
        raise ValidationError(
            {"grader": [f"grader {spec.grader} graded nothing in this selection"]}
        )
    return dataclasses.replace(spec, grader_version=version.number)


def grader_manifest(version: GraderVersion) -> dict[str, Any]:
    """How the manifest names a grader version: enough to know exactly what produced a label."""
    templates = orjson.dumps([version.candidate_template, version.pair_template])
    return {
        "name": version.grader.name,
        "version": version.number,
        "model": version.model,
        "endpoint": version.endpoint.name,
        "policy_version": version.policy_version.number,
        "templates_sha256": hashlib.sha256(templates).hexdigest(),
    }


def _stream_and_run(
    spec: ExportSpec,
    *,
    as_of: datetime,
    root: Path | None,
    mapping: dict[str, float],
    policy_version: int | None,
    on_progress: Any = None,
    on_file_closed: Any = None,
    sink: Any = None,
) -> tuple[PipelineResult, list[dict[str, Any]]]:
    """Run the export's pipeline over its stream; also return the grader versions it used."""
    version = export_grader_version(spec, as_of=as_of) if spec.uses_grader else None
    if spec.uses_grader and version is None:
        raise ValueError(f"grader {spec.grader} version {spec.grader_version} is gone")
    graders = [grader_manifest(version)] if version is not None else []
    if spec.format == "grades":
        assert version is not None
        result = run_grades_pipeline(
            spec,
            stream_grade_rows(spec, as_of=as_of, version_id=version.pk),
            root=root,
            on_progress=on_progress,
            on_file_closed=on_file_closed,
        )
        return result, graders
    rows = stream_export_rows(
        spec,
        as_of=as_of,
        with_details=format_module(spec.format).WITH_DETAILS,
        version_id=version.pk if version is not None else None,
    )
    result = run_pipeline(
        spec,
        rows,
        root=root,
        mapping=mapping,
        policy_version=policy_version,
        consensus=consensus_labels(spec.consensus_runs) if spec.labels == CONSENSUS else None,
        on_progress=on_progress,
        on_file_closed=on_file_closed,
        sink=sink,
    )
    return result, graders


def export_create(*, user: Any, data: dict[str, Any], enqueue: bool = True) -> Export:
    """Freeze a selection and its settings as a queued export; enqueue it after commit.

    Raises ValidationError (per field) on bad input, and BrokerUnavailable when the broker
    cannot take the job (the row is removed again); nothing is created then.
    """
    spec = _validated_spec(data)
    created: list[Export] = []
    try:
        with transaction.atomic():
            export = Export.objects.create(
                created_by=user if user is not None and user.is_authenticated else None,
                format=spec.format,
                archive_format=spec.archive_format,
                spec=spec.to_dict(),
                policy_version=export_policy_version(spec),
            )
            created.append(export)
            export.pairs_total = _progress_total(spec, as_of=export.created_at)
            export.save(update_fields=["pairs_total"])
            if enqueue:
                export_id = str(export.id)
                # Not robust: a publish error leaves the commit (below) and the row is removed.
                transaction.on_commit(
                    lambda: run_export.apply_async(args=(export_id,), retry_policy=QUICK_RETRY)
                )
    except BROKER_ERRORS as error:
        Export.objects.filter(pk__in=[done.pk for done in created]).delete()
        raise BrokerUnavailable() from error
    return export


def _progress_total(spec: ExportSpec, *, as_of: datetime) -> int:
    """What the progress bar counts: pairs, or grades for the grades format."""
    if spec.format == "grades":
        version = export_grader_version(spec, as_of=as_of)
        return export_grade_count(spec, as_of=as_of, version_id=version.pk) if version else 0
    return export_pair_count(spec, as_of=as_of)


def export_preview(*, data: dict[str, Any]) -> dict[str, Any]:
    """How many pairs qualify and how many each rule leaves out — the same rules, no files."""
    spec = _validated_spec(data)
    policy = export_policy_version(spec)
    result, graders = _stream_and_run(
        spec,
        as_of=timezone.now(),
        root=None,
        mapping=policy.severity_to_safety if policy else dict(DEFAULT_SEVERITY_TO_SAFETY),
        policy_version=policy.number if policy else None,
    )
    left_out_total = sum(result.left_out.values())
    return {
        "format": spec.format,
        "pairs_considered": result.pairs_considered,
        "pairs_kept": result.pairs_considered - left_out_total,
        "rows": result.rows_written,
        "rows_by_split": result.splits,
        "left_out": result.left_out,
        "other": result.extra_counts,
        "policy_version": policy.number if policy else None,
        "label_source": spec.label_source,
        "labels": spec.labels,
        "consensus_runs": result.consensus_runs,
        "rows_by_label_source": result.rows_by_label_source,
        "graders": graders,
    }


def export_spec_validated(*, data: dict[str, Any]) -> ExportSpec:
    """A selection and its settings checked as a new export checks them (ValidationError)."""
    return _validated_spec(data)


def export_selection_into(*, spec: ExportSpec, sink: Any) -> PipelineResult:
    """Run a selection's pipeline as of now into ``sink`` instead of files."""
    policy = export_policy_version(spec)
    result, _graders = _stream_and_run(
        spec,
        as_of=timezone.now(),
        root=None,
        mapping=policy.severity_to_safety if policy else dict(DEFAULT_SEVERITY_TO_SAFETY),
        policy_version=policy.number if policy else None,
        sink=sink,
    )
    return result


def _lease() -> timedelta:
    return timedelta(seconds=settings.EXPORT_LEASE_SECONDS)


def _lease_expired(now: datetime) -> Q:
    """A running export whose worker has not reported within the lease: that worker is gone."""
    return Q(status=Export.Status.RUNNING) & (
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - _lease())
    )


def _claim(export_id: uuid.UUID) -> bool:
    """Take the export for this delivery (conditional UPDATE).

    A queued export is taken; a running one only once its worker has stopped reporting (it
    died), and then it runs again from the start. Any other delivery (a finished export, or a
    second message while a live worker runs it) changes nothing.
    """
    now = timezone.now()
    return bool(
        Export.objects.filter(pk=export_id)
        .filter(Q(status=Export.Status.QUEUED) | _lease_expired(now))
        .update(
            status=Export.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            pairs_done=0,
            error="",
        )
    )


def exports_recover() -> dict[str, int]:
    """The sweep: send again every export whose message is lost.

    Every worker runs it every few seconds (config/sweeper.py). A queued export not taken
    within the lease lost its message (the broker restarted, or no worker ran while it did); a
    running one whose worker stopped reporting lost its worker and goes back to queued. The
    conditional update of ``heartbeat_at`` lets one sweep send it, however many workers sweep;
    a publish that fails (the broker still down) leaves it for a later sweep.
    """
    now = timezone.now()
    stale_queued = Q(status=Export.Status.QUEUED) & (
        Q(heartbeat_at__lt=now - _lease())
        | Q(heartbeat_at__isnull=True, created_at__lt=now - _lease())
    )
    figures = {"resent": 0, "requeued": 0}
    for export_id, status in Export.objects.filter(stale_queued | _lease_expired(now)).values_list(
        "pk", "status"
    ):
        took = (
            Export.objects.filter(pk=export_id)
            .filter(stale_queued | _lease_expired(now))
            .update(status=Export.Status.QUEUED, heartbeat_at=now, pairs_done=0)
        )
        if not took:
            continue  # another sweep sent it a moment ago
        if status == Export.Status.RUNNING:
            figures["requeued"] += 1
        try:
            run_export.apply_async(args=(str(export_id),), retry_policy=QUICK_RETRY)
        except BROKER_ERRORS:
            logger.warning("export %s: the broker is down; a later sweep sends it", export_id)
            continue
        figures["resent"] += 1
    return figures


def _progress_connection() -> Any:
    """Where progress is written while rows stream.

    On PostgreSQL the stream is a COPY that holds the main connection for its whole length, so
    progress goes through a second connection of its own (in autocommit, visible at once).
    """
    if not is_postgresql():
        return connection
    return connections.create_connection(DEFAULT_DB_ALIAS)


def export_run(*, export_id: uuid.UUID | str, enqueue_learnability: bool = True) -> Export:
    """Run an export: stream, write into a temporary folder, then rename it into place.

    A preference export ends queued for its learnability report, whose task is sent unless
    ``enqueue_learnability`` is off (the caller then runs it, or the workers' sweep sends it).

    The rename is atomic, so a folder named after the export exists only when every file,
    the manifest, the card and the archive are complete. On failure the temporary folder is
    removed and the export is marked failed with the reason.
    """
    key = uuid.UUID(str(export_id))
    if not _claim(key):
        return Export.objects.get(pk=key)
    export = Export.objects.select_related("policy_version").get(pk=key)
    root = exports_root()
    temporary = root / f".incomplete-{export.id}-{uuid.uuid4().hex}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        spec = spec_from_stored(export.spec)
        mapping = (
            export.policy_version.severity_to_safety
            if export.policy_version
            else dict(DEFAULT_SEVERITY_TO_SAFETY)
        )
        total = max(export.pairs_total, 1)
        progress_connection = _progress_connection()
        table = connection.ops.quote_name(Export._meta.db_table)

        def progress(done: int) -> None:
            with progress_connection.cursor() as cursor:
                # The heartbeat says the worker is alive (see exports_recover).
                cursor.execute(
                    f"UPDATE {table} SET pairs_done = %s, heartbeat_at = %s WHERE id = %s",  # noqa: S608
                    [
                        min(done, total),
                        progress_connection.ops.adapt_datetimefield_value(timezone.now()),
                        export.pk,
                    ],
                )

        temporary.mkdir()
        archive_name = f"graylab-export-{export.id}.{spec.archive_format}"
        archive = ArchiveWriter(
            root=temporary,
            destination=temporary / archive_name,
            archive_format=spec.archive_format,
            prefix=f"graylab-export-{export.id}",
        )
        try:
            result, graders = _stream_and_run(
                spec,
                as_of=export.created_at,
                root=temporary,
                mapping=mapping,
                policy_version=export.policy_version.number if export.policy_version else None,
                on_progress=progress,
                on_file_closed=archive.add,
            )
            manifest = _finish_files(export, spec, result, temporary, mapping, graders)
            archive.add("README.md")
            archive.add("manifest.json")
            archive_bytes = archive.close()
        except BaseException:
            archive.abort()
            raise
        finally:
            if progress_connection is not connection:
                progress_connection.close()
        final = export_folder(export)
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    except Exception as error:
        shutil.rmtree(temporary, ignore_errors=True)
        logger.exception("export %s failed", export.id)
        reason = f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]
        Export.objects.filter(pk=export.pk).update(
            status=Export.Status.FAILED, error=reason, finished_at=timezone.now()
        )
        export.refresh_from_db()
        return export
    # A preference export is completed (downloadable) now; its learnability report follows
    # from a task of its own, which writes manifest and card again when it is ready.
    learnability = spec.format in PREFERENCE_FORMATS
    now = timezone.now()
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.COMPLETED,
        manifest=manifest,
        archive_name=archive_name,
        archive_bytes=archive_bytes,
        rows_written=result.rows_written,
        pairs_done=result.pairs_considered,
        pairs_total=max(result.pairs_considered, export.pairs_total),
        finished_at=now,
        learnability_status=(Export.Status.QUEUED if learnability else ""),
        learnability=None,
        learnability_error="",
        learnability_at=now if learnability else None,
    )
    if learnability and enqueue_learnability:
        try:
            run_learnability.apply_async(args=(str(export.pk),), retry_policy=QUICK_RETRY)
        except BROKER_ERRORS:
            logger.warning("export %s: the broker is down; a sweep sends its report", export.pk)
    export.refresh_from_db()
    return export


def _finish_files(
    export: Export,
    spec: ExportSpec,
    result: PipelineResult,
    folder: Path,
    mapping: dict[str, float],
    graders: list[dict[str, Any]],
) -> dict[str, Any]:
    manifest = build_manifest(
        export=export,
        spec=spec,
        result=result,
        severity_to_safety=mapping,
        agreement=selection_agreement(result),
        graders=graders,
    )
    (folder / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    (folder / "README.md").write_text(dataset_card(manifest), encoding="utf-8")
    return manifest


def export_delete(*, export: Export) -> None:
    """Remove an export's row and its files."""
    shutil.rmtree(export_folder(export), ignore_errors=True)
    export.delete()
