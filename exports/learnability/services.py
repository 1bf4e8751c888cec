"""Writes: a completed export's learnability report, the estimate of a selection, the sweep.

The report of an export is computed from its data files after the export is completed, so it
never delays the files. When it is ready, ``manifest.json`` gets its ``learnability`` key and
``README.md`` its section, both in the export's folder and in the archive, which is packed
again from the same data files (they stay byte-identical) and swapped in with one rename.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from labeling.broker import BROKER_ERRORS, QUICK_RETRY, BrokerUnavailable
from labeling.models import Pair

from ..archive import ArchiveWriter
from ..manifest import dataset_card
from ..models import Export, LearnabilityEstimate
from ..services import export_folder, export_selection_into, export_spec_validated
from ..spec import ExportSpec, spec_from_stored
from ..tasks import run_learnability, run_learnability_estimate
from .model import PreferencePair, report_or_needs
from .reading import MANIFEST, PairCollector, report_for_folder

logger = logging.getLogger(__name__)
ERROR_MAX_CHARS = 2000
CARD = "README.md"


def _lease() -> timedelta:
    return timedelta(seconds=settings.EXPORT_LEASE_SECONDS)


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]


def _claim_export(key: uuid.UUID, now: datetime) -> bool:
    """Take the report for this delivery: queued, or running under a worker gone silent."""
    return bool(
        Export.objects.filter(pk=key, status=Export.Status.COMPLETED)
        .filter(
            Q(learnability_status=Export.Status.QUEUED)
            | Q(learnability_status=Export.Status.RUNNING, learnability_at__lt=now - _lease())
        )
        .update(learnability_status=Export.Status.RUNNING, learnability_at=now)
    )


def export_learnability_run(*, export_id: uuid.UUID | str) -> Export:
    """Compute a completed preference export's report and write it into manifest and card.

    A failure leaves the export and its files as they were and marks only the report failed.
    """
    key = uuid.UUID(str(export_id))
    if not _claim_export(key, timezone.now()):
        return Export.objects.get(pk=key)
    export = Export.objects.get(pk=key)
    try:
        folder = export_folder(export)
        report, pairs = report_for_folder(folder)
        link_surprising_pairs(spec_from_stored(export.spec), report, pairs)
        manifest, archive_bytes = _write_report(export, folder, report)
    except Exception as error:
        logger.exception("learnability of export %s failed", export.pk)
        Export.objects.filter(pk=key).update(
            learnability_status=Export.Status.FAILED,
            learnability_error=_reason(error),
            learnability_at=timezone.now(),
        )
        export.refresh_from_db()
        return export
    Export.objects.filter(pk=key).update(
        learnability_status=Export.Status.COMPLETED,
        learnability=report,
        learnability_error="",
        learnability_at=timezone.now(),
        manifest=manifest,
        archive_bytes=archive_bytes,
    )
    export.refresh_from_db()
    return export


def link_surprising_pairs(
    spec: ExportSpec, report: dict[str, Any], pairs: list[PreferencePair]
) -> None:
    """Name the pair of each surprising row whose format carries no pair id (``openai-dpo``):
    the pair of the export's campaigns whose two candidates are the row's two responses."""
    missing = [item for item in report.get("surprising", []) if item["pair_id"] is None]
    if not missing:
        return
    by_place = {(pair.file, pair.line): pair for pair in pairs}
    wanted: dict[frozenset[str], list[dict[str, Any]]] = {}
    condition = Q()
    for item in missing:
        pair = by_place.get((item["file"], item["line"]))
        if pair is None:
            continue
        wanted.setdefault(frozenset((pair.chosen, pair.rejected)), []).append(item)
        condition |= Q(candidate_a__text=pair.chosen, candidate_b__text=pair.rejected)
        condition |= Q(candidate_a__text=pair.rejected, candidate_b__text=pair.chosen)
    if not wanted:
        return
    found = (
        Pair.objects.filter(prompt__campaign__slug__in=spec.campaigns)
        .filter(condition)
        .order_by("pk")
        .values_list("pk", "candidate_a__text", "candidate_b__text")
    )
    for pair_id, a_text, b_text in found:
        for item in wanted.pop(frozenset((a_text, b_text)), []):
            item["pair_id"] = str(pair_id)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temporary.write_bytes(
        orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    os.replace(temporary, path)


def _write_report(
    export: Export, folder: Path, report: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Write the report into the folder's manifest and card, then pack the archive again."""
    manifest = orjson.loads((folder / MANIFEST).read_bytes())
    manifest["learnability"] = report
    _write_json(folder / MANIFEST, manifest)
    card = folder / f".{CARD}.{uuid.uuid4().hex}"
    card.write_text(dataset_card(manifest), encoding="utf-8")
    os.replace(card, folder / CARD)
    archive_name = Path(export.archive_name).name
    temporary = folder / f".{archive_name}.{uuid.uuid4().hex}"
    archive = ArchiveWriter(
        root=folder,
        destination=temporary,
        archive_format=export.archive_format,
        prefix=f"graylab-export-{export.id}",
    )
    try:
        # The same members, in the same order, as the export packed them.
        for record in [*manifest["files"], *manifest.get("combined_files", [])]:
            archive.add(record["path"])
        archive.add(CARD)
        archive.add(MANIFEST)
        archive_bytes = archive.close()
    except BaseException:
        archive.abort()
        temporary.unlink(missing_ok=True)
        raise
    # One rename: a download open at this moment keeps reading the archive it opened.
    os.replace(temporary, folder / archive_name)
    return manifest, archive_bytes


def learnability_estimate_create(*, user: Any, data: dict[str, Any]) -> LearnabilityEstimate:
    """Freeze a selection for an estimate and enqueue it (ValidationError, BrokerUnavailable).

    The estimate reads the preference pairs the selection gives (as ``trl-preference`` would
    write them), whatever format the form names.
    """
    spec = dataclasses.replace(
        export_spec_validated(data=data), format="trl-preference", archive_format="tar.gz"
    )
    estimate = LearnabilityEstimate.objects.create(
        created_by=user if user is not None and user.is_authenticated else None,
        spec=spec.to_dict(),
        started_at=timezone.now(),
    )
    try:
        run_learnability_estimate.apply_async(args=(str(estimate.pk),), retry_policy=QUICK_RETRY)
    except BROKER_ERRORS as error:
        estimate.delete()
        raise BrokerUnavailable() from error
    return estimate


def learnability_estimate_run(*, estimate_id: uuid.UUID | str) -> LearnabilityEstimate:
    """Compute an estimate: the selection's pairs through the export rules, then the report."""
    key = uuid.UUID(str(estimate_id))
    now = timezone.now()
    took = (
        LearnabilityEstimate.objects.filter(pk=key)
        .filter(
            Q(status=LearnabilityEstimate.Status.QUEUED)
            | Q(status=LearnabilityEstimate.Status.RUNNING, started_at__lt=now - _lease())
        )
        .update(status=LearnabilityEstimate.Status.RUNNING, started_at=now)
    )
    estimate = LearnabilityEstimate.objects.get(pk=key)
    if not took:
        return estimate
    try:
        spec = spec_from_stored(estimate.spec)
        collector = PairCollector()
        export_selection_into(spec=spec, sink=collector)
        report = report_or_needs(collector.pairs, seed=spec.seed)
    except Exception as error:
        logger.exception("learnability estimate %s failed", key)
        LearnabilityEstimate.objects.filter(pk=key).update(
            status=LearnabilityEstimate.Status.FAILED,
            error=_reason(error),
            finished_at=timezone.now(),
        )
    else:
        LearnabilityEstimate.objects.filter(pk=key).update(
            status=LearnabilityEstimate.Status.COMPLETED,
            report=report,
            finished_at=timezone.now(),
        )
    estimate.refresh_from_db()
    return estimate


def learnability_recover() -> dict[str, int]:
    """The sweep's share: send again a report or estimate whose message or worker is lost
    (queued or running, untouched for a lease). One sweep wins the conditional update."""
    now = timezone.now()
    stale = now - _lease()
    figures = {"learnability_resent": 0, "estimates_resent": 0}
    exports = Export.objects.filter(
        status=Export.Status.COMPLETED,
        learnability_status__in=(Export.Status.QUEUED, Export.Status.RUNNING),
        learnability_at__lt=stale,
    )
    for export_id in exports.values_list("pk", flat=True):
        if not exports.filter(pk=export_id).update(
            learnability_status=Export.Status.QUEUED, learnability_at=now
        ):
            continue
        try:
            run_learnability.apply_async(args=(str(export_id),), retry_policy=QUICK_RETRY)
        except BROKER_ERRORS:
            logger.warning("learnability of %s: the broker is down; a later sweep", export_id)
            continue
        figures["learnability_resent"] += 1
    estimates = LearnabilityEstimate.objects.filter(
        status__in=(LearnabilityEstimate.Status.QUEUED, LearnabilityEstimate.Status.RUNNING),
        started_at__lt=stale,
    )
    for estimate_id in estimates.values_list("pk", flat=True):
        if not estimates.filter(pk=estimate_id).update(
            status=LearnabilityEstimate.Status.QUEUED, started_at=now
        ):
            continue
        try:
            run_learnability_estimate.apply_async(
                args=(str(estimate_id),), retry_policy=QUICK_RETRY
            )
        except BROKER_ERRORS:
            logger.warning("estimate %s: the broker is down; a later sweep", estimate_id)
            continue
        figures["estimates_resent"] += 1
    return figures
