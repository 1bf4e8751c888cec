"""The streaming core: rows from the database → prompts → resolved pairs → format → files.

One pass over a server-side cursor. Only the current prompt (a handful of pairs) is held in
memory, so memory stays flat whatever the size of the selection.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from policy.models import PolicyVersion

from .aggregation import (
    PAIR_REASONS,
    Candidate,
    PairGroup,
    PairLabel,
    PromptGroup,
    ResolvedPair,
    ScoreTables,
    SideLabel,
    resolve_pair,
)
from .agreement import AgreementAccumulator
from .formats import format_module
from .formats.base import FormatContext
from .spec import ExportSpec
from .splits import split_for
from .writer import DataWriter, FileRecord

PROGRESS_EVERY_PAIRS = 5000


def _messages(text: Any) -> list[dict[str, str]]:
    # Keep exactly role and content: the trainers' loaders expect nothing else in a message.
    parsed = orjson.loads(text) if text else []
    return [{"role": str(m.get("role", "")), "content": str(m.get("content", ""))} for m in parsed]


def _json_or_none(text: Any) -> Any:
    if text in (None, "", "null"):
        return None
    return orjson.loads(text)


def group_prompts(rows: Iterable[tuple[Any, ...]], *, with_details: bool) -> Iterator[PromptGroup]:
    """Group the ordered stream of pair rows (:func:`stream_export_rows`) into prompts."""
    policy_numbers: dict[int, int] = (
        dict(PolicyVersion.objects.values_list("id", "number")) if with_details else {}
    )
    prompt: PromptGroup | None = None
    for row in rows:
        (
            category,
            prompt_id,
            pair_id,
            intent,
            content_hash,
            messages_text,
            a_id,
            a_text,
            b_id,
            b_text,
            prior_preference,
            review_resolution,
            final_labels_text,
        ) = row[:13]
        if prompt is None or prompt.id != prompt_id:
            if prompt is not None:
                yield prompt
            prompt = PromptGroup(
                id=prompt_id,
                category=category,
                intent=intent,
                content_hash=content_hash,
                messages=_messages(messages_text),
            )
        pair = PairGroup(
            id=pair_id,
            a=Candidate(a_id, a_text),
            b=Candidate(b_id, b_text),
            prior_preference=prior_preference,
            review_resolution=review_resolution,
            review_final_labels=_json_or_none(final_labels_text),
        )
        prompt.pairs.append(pair)
        if row[13]:
            pair.judgments = _judgments(row[13:], with_details, policy_numbers)
    if prompt is not None:
        yield prompt


def _judgments(
    columns: tuple[Any, ...], with_details: bool, policy_numbers: dict[int, int]
) -> list[PairLabel]:
    """A pair's judgments from its per-column lists (``JUDGMENT_COLUMNS`` [+ details])."""
    judgments = [
        # Positional arguments: this runs once per judgment, a million times in a big export.
        PairLabel(
            float(preference),
            SideLabel(a_mode, a_severity, a_helpfulness),
            SideLabel(b_mode, b_severity, b_helpfulness),
            judgment_id,
            annotator_id,
        )
        for (
            judgment_id,
            a_mode,
            a_severity,
            a_helpfulness,
            b_mode,
            b_severity,
            b_helpfulness,
            preference,
            annotator_id,
        ) in zip(*columns[:9], strict=True)
    ]
    if with_details:
        for judgment, details in zip(judgments, zip(*columns[9:17], strict=True), strict=True):
            (
                username,
                rationale,
                flags_text,
                flag_note,
                left_is_a,
                time_on_task_ms,
                created_at,
                policy_version_id,
            ) = details
            judgment.extra = {
                "annotator_id": judgment.annotator_id,
                "annotator_username": username,
                "rationale": rationale,
                "flags": _json_or_none(flags_text) or [],
                "flag_note": flag_note,
                "left_is_a": left_is_a,
                "time_on_task_ms": time_on_task_ms,
                "created_at": _iso(created_at),
                "policy_version": policy_numbers.get(policy_version_id),
            }
    return judgments


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


@dataclass
class PipelineResult:
    files: list[FileRecord]
    pairs_considered: int
    rows_written: int
    left_out: dict[str, int]
    extra_counts: dict[str, int]
    notes: list[str]
    splits: dict[str, int] = field(default_factory=dict)
    agreement: dict[str, Any] | None = None


def run_pipeline(
    spec: ExportSpec,
    rows: Iterable[tuple[Any, ...]],
    *,
    root: Path | None,
    mapping: Mapping[str, float],
    policy_version: int | None,
    on_progress: Callable[[int], None] | None = None,
    on_file_closed: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Stream ``rows`` into data files under ``root`` (or only count, when ``root`` is None).

    The count-only mode is what the export page's preview runs: the same rules, no files.
    """
    module = format_module(spec.format)
    writer = (
        _CountingWriter()
        if root is None
        else DataWriter(
            root,
            extension=module.EXTENSION,
            csv_header=module.CSV_HEADER,
            on_closed=on_file_closed,
        )
    )
    split_counts: Counter[str] = Counter()

    def split_of(prompt: PromptGroup) -> str:
        if not prompt.split:
            prompt.split = split_for(prompt.content_hash, seed=spec.seed, ratios=spec.split_ratios)
        return prompt.split

    context = FormatContext(
        spec=spec,
        mapping=mapping,
        policy_version=policy_version,
        writer=writer,  # type: ignore[arg-type]
        split_of=split_of,
        tables=ScoreTables.from_mapping(mapping),
    )
    agreement = AgreementAccumulator()
    pairs_considered = 0
    next_progress = PROGRESS_EVERY_PAIRS
    try:
        for prompt in group_prompts(rows, with_details=module.WITH_DETAILS):
            agreement.add_prompt(prompt)
            kept: list[ResolvedPair] = []
            for pair in prompt.pairs:
                resolved = resolve_pair(
                    pair,
                    label_sources=spec.label_sources,
                    min_judgments=spec.min_judgments,
                    min_agreement=spec.min_agreement,
                )
                if resolved.left_out is not None:
                    context.leave_out(resolved.left_out)
                else:
                    kept.append(resolved)
            pairs_considered += len(prompt.pairs)
            before = writer.rows_written
            module.write_prompt(prompt, kept, context)
            if writer.rows_written > before:
                split_counts[split_of(prompt)] += writer.rows_written - before
            if on_progress is not None and pairs_considered >= next_progress:
                on_progress(pairs_considered)
                next_progress = pairs_considered + PROGRESS_EVERY_PAIRS
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        # End a stream still in progress (after a failure) so the connection is usable.
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    left_out = {reason: context.counts.get(reason, 0) for reason in PAIR_REASONS}
    return PipelineResult(
        files=files,
        pairs_considered=pairs_considered,
        rows_written=writer.rows_written,
        left_out=left_out,
        extra_counts=dict(sorted(context.extra_counts.items())),
        notes=sorted(context.notes),
        splits={split: split_counts.get(split, 0) for split in ("train", "validation", "test")},
        agreement=agreement.result(),
    )


class _CountingWriter:
    """A writer that only counts (the preview)."""

    def __init__(self) -> None:
        self.rows_written = 0

    def write_json(self, category: str, split: str, row: dict[str, Any]) -> None:
        self.rows_written += 1

    def write_csv(self, category: str, split: str, cells: Any) -> None:
        self.rows_written += 1

    def close(self) -> list[FileRecord]:
        return []

    def abort(self) -> None:
        return None
