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
    DISCARDED_BY_REVIEW,
    EXCLUDED_FROM_EXPORTS,
    GRADER_REASONS,
    LOW_GRADER_CONFIDENCE,
    PAIR_REASONS,
    TOLERANCE,
    Candidate,
    CandidateGrade,
    ConsensusLabels,
    OrderGrade,
    PairGroup,
    PairLabel,
    PromptGroup,
    ResolvedPair,
    ScoreTables,
    SideLabel,
    apply_consensus,
    resolve_pair,
    resolve_pair_by_grader,
)
from .agreement import AgreementAccumulator
from .formats import format_module
from .formats.base import FormatContext
from .formats.grades import grade_row
from .selectors import GRADE_COLUMNS, GRADE_ROW_COLUMNS, PAIR_COLUMNS
from .spec import GRADER, HUMAN, METADATA_BESIDE_FORMATS, PER_CANDIDATE_FORMATS, ExportSpec
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


def group_prompts(
    rows: Iterable[tuple[Any, ...]], *, with_details: bool, with_grades: bool = False
) -> Iterator[PromptGroup]:
    """Group the ordered stream of pair rows (:func:`stream_export_rows`) into prompts."""
    width = len(PAIR_COLUMNS)
    judgments_from = width + (len(GRADE_COLUMNS) if with_grades else 0)
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
            exclusion_id,
        ) = row[:width]
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
            excluded=exclusion_id is not None,
        )
        prompt.pairs.append(pair)
        if with_grades:
            _attach_grades(pair, row[width:judgments_from])
        if row[judgments_from]:
            pair.judgments = _judgments(row[judgments_from:], with_details, policy_numbers)
    if prompt is not None:
        yield prompt


def _attach_grades(pair: PairGroup, columns: tuple[Any, ...]) -> None:
    """A pair's grades from its :data:`~exports.selectors.GRADE_COLUMNS` (NULL: not graded)."""
    (
        ab_id,
        ab_preference,
        ab_confidence,
        ba_id,
        ba_preference,
        ba_confidence,
        *candidates,
    ) = columns
    for order, grade_id, preference, confidence in (
        ("ab", ab_id, ab_preference, ab_confidence),
        ("ba", ba_id, ba_preference, ba_confidence),
    ):
        if grade_id is not None:
            pair.order_grades.append(OrderGrade(grade_id, order, int(preference), confidence))
    pair.grade_a = _candidate_grade(candidates[:5])
    pair.grade_b = _candidate_grade(candidates[5:])


def _candidate_grade(columns: list[Any]) -> CandidateGrade | None:
    grade_id, mode, severity, helpfulness, confidence = columns
    if grade_id is None:
        return None
    return CandidateGrade(grade_id, SideLabel(mode, severity, helpfulness), confidence)


def resolve_for_export(pair: PairGroup, spec: ExportSpec) -> ResolvedPair:
    """Whose labels count for ``pair`` under the export's label source.

    ``human``: the human rules (:func:`~exports.aggregation.resolve_pair`). ``grader``: the
    grader's labels, which must carry what the format and preference source read.
    ``human-else-grader``: the human labels where they qualify, else the grader's; a pair a
    reviewer discarded stays left out (the reviewer judged the pair itself unusable). A pair
    excluded from exports (in the data browser) is left out whatever the label source.
    """
    if pair.excluded:
        return ResolvedPair(pair, None, [], EXCLUDED_FROM_EXPORTS)
    human = None
    if spec.label_source != GRADER:
        human = resolve_pair(
            pair,
            label_sources=spec.label_sources,
            min_judgments=spec.min_judgments,
            min_agreement=spec.min_agreement,
        )
        if spec.label_source == HUMAN or human.left_out in (None, DISCARDED_BY_REVIEW):
            return human
    per_candidate = spec.format in PER_CANDIDATE_FORMATS
    return resolve_pair_by_grader(
        pair,
        min_confidence=spec.min_grader_confidence,
        needs_preference=not per_candidate and spec.preference_source in ("human", "both"),
        needs_sides=not per_candidate and spec.preference_source in ("reward", "both"),
    )


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
    rows_by_label_source: dict[str, int] = field(default_factory=dict)
    consensus_runs: list[dict[str, Any]] = field(default_factory=list)
    # Every category's rows of a split in one file (``<split>.<extension>``), and their
    # metadata files.
    combined_files: list[FileRecord] = field(default_factory=list)


def run_pipeline(
    spec: ExportSpec,
    rows: Iterable[tuple[Any, ...]],
    *,
    root: Path | None,
    mapping: Mapping[str, float],
    policy_version: int | None,
    on_progress: Callable[[int], None] | None = None,
    on_file_closed: Callable[[str], None] | None = None,
    consensus: ConsensusLabels | None = None,
    sink: Any = None,
) -> PipelineResult:
    """Stream ``rows`` into data files under ``root`` (or only count, when ``root`` is None).

    The count-only mode is what the export page's preview runs: the same rules, no files. A
    ``sink`` (a writer's methods, e.g. the learnability estimate's collector) takes the rows
    instead of files.
    """
    module = format_module(spec.format)
    writer = (
        sink
        if sink is not None
        else _CountingWriter()
        if root is None
        else DataWriter(
            root,
            extension=module.EXTENSION,
            csv_header=module.CSV_HEADER,
            on_closed=on_file_closed,
            metadata_beside=spec.format in METADATA_BESIDE_FORMATS,
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
    with_consensus = 0
    next_progress = PROGRESS_EVERY_PAIRS
    try:
        grouped = group_prompts(
            rows, with_details=module.WITH_DETAILS, with_grades=spec.uses_grader
        )
        for prompt in grouped:
            agreement.add_prompt(prompt)
            kept: list[ResolvedPair] = []
            for pair in prompt.pairs:
                resolved = resolve_for_export(pair, spec)
                if consensus is not None and resolved.left_out is None:
                    resolved, used = apply_consensus(resolved, consensus)
                    with_consensus += used
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
    reasons = PAIR_REASONS + (GRADER_REASONS if spec.uses_grader else ())
    left_out = {reason: context.counts.get(reason, 0) for reason in reasons}
    by_source = (
        {source: context.sources.get(source, 0) for source in (HUMAN, GRADER)}
        if spec.uses_grader
        else {HUMAN: writer.rows_written, GRADER: 0}
    )
    return PipelineResult(
        files=files,
        pairs_considered=pairs_considered,
        rows_written=writer.rows_written,
        left_out=left_out,
        extra_counts=dict(
            sorted(
                {
                    **context.extra_counts,
                    **({"pairs_with_consensus_labels": with_consensus} if consensus else {}),
                }.items()
            )
        ),
        notes=sorted(context.notes),
        splits={split: split_counts.get(split, 0) for split in ("train", "validation", "test")},
        agreement=agreement.result(),
        rows_by_label_source=by_source,
        consensus_runs=list(consensus.runs) if consensus else [],
        combined_files=list(getattr(writer, "combined_files", [])),
    )


def run_grades_pipeline(
    spec: ExportSpec,
    rows: Iterable[tuple[Any, ...]],
    *,
    root: Path | None,
    on_progress: Callable[[int], None] | None = None,
    on_file_closed: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Stream a grader version's grades (:func:`stream_grade_rows`) into ``grades`` files.

    Splits are by prompt, as in every format, so a prompt's grades land in the split its
    labels land in elsewhere. A grade the data browser's exclusion keeps out
    (:func:`~exports.selectors.grade_excluded`), then a grade under the minimum confidence, is
    left out and counted.
    """
    assert spec.grader is not None and spec.grader_version is not None
    writer: Any = (
        _CountingWriter()
        if root is None
        else DataWriter(root, extension="jsonl", on_closed=on_file_closed)
    )
    split_counts: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    pairs: set[int] = set()
    excluded = 0
    low_confidence = 0
    read = 0
    next_progress = PROGRESS_EVERY_PAIRS
    try:
        for values in rows:
            read += 1
            named = dict(zip(GRADE_ROW_COLUMNS, values, strict=True))
            if named["row_excluded"]:
                excluded += 1
                continue
            if named["confidence"] + TOLERANCE < spec.min_grader_confidence:
                low_confidence += 1
                continue
            split = split_for(named["row_content_hash"], seed=spec.seed, ratios=spec.split_ratios)
            row = grade_row(named, grader=spec.grader, grader_version=spec.grader_version)
            writer.write_json(named["row_category"], split, row)
            split_counts[split] += 1
            kinds[f"{named['kind']}_grades"] += 1
            if named["pair_id"] is not None:
                pairs.add(named["pair_id"])
            if on_progress is not None and read >= next_progress:
                on_progress(read)
                next_progress = read + PROGRESS_EVERY_PAIRS
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    return PipelineResult(
        files=files,
        pairs_considered=len(pairs),
        rows_written=writer.rows_written,
        left_out={EXCLUDED_FROM_EXPORTS: excluded, LOW_GRADER_CONFIDENCE: low_confidence},
        extra_counts={key: kinds.get(key, 0) for key in ("candidate_grades", "pair_grades")},
        notes=[],
        splits={split: split_counts.get(split, 0) for split in ("train", "validation", "test")},
        agreement=None,
        rows_by_label_source={HUMAN: 0, GRADER: writer.rows_written},
        combined_files=list(getattr(writer, "combined_files", [])),
    )


class _CountingWriter:
    """A writer that only counts (the preview)."""

    def __init__(self) -> None:
        self.rows_written = 0

    def write_json(self, category: str, split: str, row: dict[str, Any]) -> None:
        self.rows_written += 1

    def write_csv(self, category: str, split: str, cells: Any) -> None:
        self.rows_written += 1

    def write_metadata(self, category: str, split: str, metadata: dict[str, Any]) -> None:
        return None

    def close(self) -> list[FileRecord]:
        return []

    def abort(self) -> None:
        return None
