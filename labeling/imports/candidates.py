"""External candidates: completions written elsewhere become candidates with their source name.

Formats: generic ``jsonl`` / ``csv`` (``external_id`` or ``prompt``/``messages``,
``completion`` — in JSONL also a list of assistant messages —, ``source``, and prior labels in
rubric terms, see :mod:`.prior_labels`), ``xstest-completions`` (one file = one source; the two
human annotations kept as prior labels) and ``hh-rlhf`` (a conversation with a chosen and a
rejected answer: two candidates and a prior preference). All or nothing, like prompt import;
HH-RLHF rows whose two transcripts differ before the last Assistant turn are reported and left
out, never guessed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from django.db import transaction

from presentation.untrusted_text import stored_html

from ..models import Campaign, Candidate, Pair, Prompt
from ..pairs import pairs_build_bulk
from .common import (
    MAX_TEXT_CHARS,
    NUL_REASON,
    ImportFailed,
    ImportProgress,
    ImportReport,
    Problem,
    ProblemLog,
    RowChecker,
    check_messages,
    check_prompt_text,
    content_hash,
    detect_format,
    external_id_of,
    has_nul,
    iter_csv,
    iter_jsonl,
    normalise_text,
    open_binary,
)
from .prior_labels import (
    CSV_LABEL_COLUMN,
    LABEL_MAPPING_FIELD,
    LABELS_FIELD,
    LabelMapping,
    PriorLabelReader,
    label_columns_check,
)
from .prompts import XstestMapping, xstest_label_of_type

FORMATS = ("jsonl", "csv", "xstest-completions", "hh-rlhf")
HH_SOURCE_CHOSEN = "hh-rlhf:chosen"
HH_SOURCE_REJECTED = "hh-rlhf:rejected"
XSTEST_LABEL_FIELDS = ("annotation_1", "annotation_2", "agreement", "final_label")
_XSTEST_FILE = re.compile(r"completions_([A-Za-z0-9_.-]+?)\.csv", re.IGNORECASE)
_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")
JSONL_FIELDS = {
    "external_id",
    "prompt",
    "messages",
    "completion",
    "source",
    "metadata",
    LABELS_FIELD,
}
LABELLED_FORMATS = ("jsonl", "csv")
CSV_RESERVED = {"external_id", "prompt", "messages", "completion", "source"}


@dataclass
class CandidateRow:
    line: int
    external_id: str | None
    messages: list[dict[str, str]] | None
    completions: list[tuple[str, str]]  # (source, text)
    prior_labels: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    prompt_metadata: dict[str, Any] = field(default_factory=dict)
    category: str | None = None
    intent: str | None = None
    chosen_first: bool | None = None  # HH-RLHF: the first completion is the preferred one


def candidate_key(*, prompt_id: int, source: str, text: str) -> str:
    """Idempotency key of an imported candidate: one per (prompt, source, text)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"import|{prompt_id}|{source}|{digest}".encode()).hexdigest()


def _completion(
    value: Any, log: ProblemLog, line: int, name: str = "completion", allow_empty: bool = False
) -> str | None:
    if not isinstance(value, str) or (not value.strip() and not allow_empty):
        log.add(line, name, "missing or empty")
        return None
    if len(value) > MAX_TEXT_CHARS:
        log.add(line, name, f"longer than {MAX_TEXT_CHARS} characters")
        return None
    if "\x00" in value:
        log.add(line, name, NUL_REASON)
        return None
    return normalise_text(value)


def _completion_messages(value: list[Any], log: ProblemLog, line: int) -> str | None:
    """A completion given as chat messages, read as its assistant text: every turn must be an
    assistant's; their texts (a content string, or a list of ``{"type": "text", "text"}``
    parts) are joined by a blank line."""
    texts: list[str] = []
    for index, message in enumerate(value):
        turn = f"turn {index + 1}"
        if not isinstance(message, dict) or "content" not in message:
            log.add(line, "completion", f"{turn} must be an object with role and content")
            return None
        if message.get("role") != "assistant":
            log.add(
                line,
                "completion",
                f"{turn} has role {str(message.get('role'))[:40]!r}: a completion holds "
                "assistant turns only (the conversation before it goes in messages)",
            )
            return None
        content = message["content"]
        if isinstance(content, list):
            parts = [
                part.get("text")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            ]
            if not parts or not all(isinstance(part, str) for part in parts):
                log.add(line, "completion", f"{turn} has no text part")
                return None
            content = "".join(str(part) for part in parts)
        if not isinstance(content, str):
            log.add(line, "completion", f"{turn} has no text content")
            return None
        texts.append(content)
    if not texts:
        log.add(line, "completion", "an empty list of messages")
        return None
    return _completion("\n\n".join(texts), log, line)


def _source(value: Any, log: ProblemLog, line: int) -> str | None:
    if not isinstance(value, str) or not value.strip():
        log.add(line, "source", "missing: name the model or system that wrote the completion")
        return None
    if len(value) > 200:
        log.add(line, "source", "longer than 200 characters")
        return None
    if "\x00" in value:
        log.add(line, "source", NUL_REASON)
        return None
    return value.strip()


def _rows_jsonl(
    stream: IO[bytes], log: ProblemLog, labels: PriorLabelReader
) -> Iterator[CandidateRow]:
    for line, obj in iter_jsonl(stream, log):
        unknown = set(obj) - JSONL_FIELDS
        if unknown:
            log.add(line, "", f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
            continue
        external_id = external_id_of(obj.get("external_id"), log, line)
        messages = None
        if "messages" in obj:
            messages = check_messages(obj["messages"], log, line)
        elif "prompt" in obj:
            messages = check_prompt_text(obj["prompt"], log, line)
        elif external_id is None:
            log.add(line, "external_id", "give the prompt's external_id or the prompt itself")
            continue
        completion = obj.get("completion")
        text = (
            _completion_messages(completion, log, line)
            if isinstance(completion, list)
            else _completion(completion, log, line)
        )
        source = _source(obj.get("source"), log, line)
        prior = labels.from_json(line, obj[LABELS_FIELD]) if LABELS_FIELD in obj else {}
        metadata = obj.get("metadata", {})
        if not isinstance(metadata, dict):
            log.add(line, "metadata", "must be a JSON object")
            continue
        if has_nul(metadata):
            log.add(line, "metadata", NUL_REASON)
            continue
        if (
            text is None
            or source is None
            or prior is None
            or (("messages" in obj or "prompt" in obj) and not messages)
        ):
            continue
        yield CandidateRow(
            line, external_id, messages, [(source, text)], prior_labels=prior, metadata=metadata
        )


def _rows_csv(
    stream: IO[bytes], log: ProblemLog, labels: PriorLabelReader
) -> Iterator[CandidateRow]:
    checked = False
    for line, row, header in iter_csv(stream, log):
        if not checked:
            checked = True
            label_columns_check(header, log)
            for name in ("completion", "source"):
                if name not in header:
                    log.add(1, name, "the header has no such column")
            if "external_id" not in header and "prompt" not in header:
                log.add(1, "external_id", "the header needs an external_id or a prompt column")
        if "completion" not in header or "source" not in header:
            continue
        external_id = external_id_of(row.get("external_id"), log, line)
        messages = None
        if row.get("prompt", "").strip():
            messages = check_prompt_text(row["prompt"], log, line)
            if messages is None:
                continue
        elif external_id is None:
            log.add(line, "external_id", "give the prompt's external_id or the prompt itself")
            continue
        text = _completion(row.get("completion"), log, line)
        source = _source(row.get("source"), log, line)
        prior = labels.from_columns(line, row)
        if text is None or source is None or prior is None:
            continue
        metadata = {
            key: value
            for key, value in row.items()
            if key not in CSV_RESERVED and not CSV_LABEL_COLUMN.match(key)
        }
        yield CandidateRow(
            line, external_id, messages, [(source, text)], prior_labels=prior, metadata=metadata
        )


def xstest_source_name(filename: str) -> str:
    """``xstest_v2_completions_gpt4.csv`` → ``gpt4``."""
    match = _XSTEST_FILE.search(Path(filename).name)
    return match.group(1) if match else Path(filename).stem


def _rows_xstest(
    stream: IO[bytes], log: ProblemLog, source: str, checker: RowChecker, mapping: XstestMapping
) -> Iterator[CandidateRow]:
    checked = False
    expected = ("id", "type", "prompt", "completion", *XSTEST_LABEL_FIELDS)
    for line, row, header in iter_csv(stream, log):
        if not checked:
            checked = True
            missing = [name for name in expected if name not in header]
            if missing:
                log.add(1, "", f"not an XSTest completions file: missing {', '.join(missing)}")
        if "prompt" not in header or "completion" not in header:
            continue
        raw_id = (row.get("id") or "").strip()
        # The completion files number prompts "v2-17"; the prompts file numbers them "17".
        external_id = external_id_of(raw_id.removeprefix("v2-"), log, line)
        messages = check_prompt_text(row.get("prompt", ""), log, line)
        text = _completion(row.get("completion"), log, line)
        if messages is None or text is None:
            continue
        kind = (row.get("type") or "").strip()
        labels = {name: row.get(name, "") for name in XSTEST_LABEL_FIELDS}
        label = xstest_label_of_type(kind)
        category_value = mapping.category(kind, label)
        intent_value = mapping.intent(kind, label)
        yield CandidateRow(
            line,
            external_id,
            messages,
            [(source, text)],
            prior_labels={"xstest": labels},
            metadata={"xstest_id": raw_id},
            prompt_metadata={"type": kind, "source": "xstest"},
            category=category_value,
            intent=intent_value,
        )


def parse_hh_transcript(transcript: str) -> list[dict[str, str]] | None:
    """``"\\n\\nHuman: …\\n\\nAssistant: …"`` → messages, or ``None`` if it does not parse."""
    parts = _HH_TURN.split(transcript)
    if len(parts) < 3 or parts[0].strip():
        return None
    messages = []
    for speaker, text in zip(parts[1::2], parts[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        messages.append({"role": role, "content": text})
    return messages


def _rows_hh(stream: IO[bytes], log: ProblemLog, report: ImportReport) -> Iterator[CandidateRow]:
    for line, obj in iter_jsonl(stream, log):
        chosen_text, rejected_text = obj.get("chosen"), obj.get("rejected")
        if not isinstance(chosen_text, str) or not isinstance(rejected_text, str):
            log.add(line, "chosen", "each line needs chosen and rejected transcripts")
            continue
        chosen = parse_hh_transcript(chosen_text)
        rejected = parse_hh_transcript(rejected_text)
        if chosen is None or rejected is None:
            log.add(
                line, "chosen" if chosen is None else "rejected", "not a Human/Assistant transcript"
            )
            continue
        if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
            log.add(line, "chosen", "the transcript does not end with an Assistant turn")
            continue
        prefix_chosen = [(m["role"], normalise_text(m["content"])) for m in chosen[:-1]]
        prefix_rejected = [(m["role"], normalise_text(m["content"])) for m in rejected[:-1]]
        if prefix_chosen != prefix_rejected:
            # Two different conversations: which one the preference is about is unknowable.
            report.reported.append(
                Problem(
                    line,
                    "rejected",
                    "the two transcripts differ before the last Assistant turn; left out",
                )
            )
            continue
        messages = check_messages(chosen[:-1], log, line)
        # Empty answers occur in the real data; they are judged as "other" (docs/rubric.md).
        good = _completion(chosen[-1]["content"], log, line, "chosen", allow_empty=True)
        bad = _completion(rejected[-1]["content"], log, line, "rejected", allow_empty=True)
        if messages is None or good is None or bad is None:
            continue
        yield CandidateRow(
            line,
            None,
            messages,
            [(HH_SOURCE_CHOSEN, good), (HH_SOURCE_REJECTED, bad)],
            prompt_metadata={"source": "hh-rlhf"},
            chosen_first=True,
        )


BATCH_SIZE = 500


class _BatchWriter:
    """Writes rows in batches: a handful of queries per batch rather than per row.

    Prompts are looked up by external_id and content hash (or created, when the row carries the
    prompt and a category and intent can be assigned); candidates already stored under their
    idempotency key are skipped and counted; pairs are built at the end, in bulk.
    """

    def __init__(self, campaign: Campaign, checker: RowChecker, report: ImportReport) -> None:
        self.campaign = campaign
        self.checker = checker
        self.report = report
        self.touched: set[int] = set()
        self.preferences: list[tuple[str, str]] = []  # (chosen key, rejected key)

    def write(self, batch: list[CandidateRow], log: ProblemLog) -> None:
        prompts = Prompt.objects.filter(campaign=self.campaign)
        ids = {row.external_id for row in batch if row.external_id}
        by_id = dict(prompts.filter(external_id__in=ids).values_list("external_id", "id"))
        hashes = {row.line: content_hash(row.messages) for row in batch if row.messages}
        by_hash = dict(
            prompts.filter(content_hash__in=set(hashes.values())).values_list("content_hash", "id")
        )
        new_prompts: dict[str, Prompt] = {}
        row_prompt: dict[int, int | str] = {}
        for row in batch:
            if row.external_id and row.external_id in by_id:
                row_prompt[row.line] = by_id[row.external_id]
                continue
            digest = hashes.get(row.line)
            if digest is None:
                log.add(
                    row.line,
                    "external_id",
                    f"no prompt with external_id {row.external_id!r} in this campaign",
                )
                continue
            if digest in by_hash:
                row_prompt[row.line] = by_hash[digest]
                continue
            if digest not in new_prompts:
                before = log.count
                category = self.checker.category(row.category, row.line)
                intent = self.checker.intent(row.intent, row.line)
                if log.count > before or category is None or intent is None:
                    continue
                new_prompts[digest] = Prompt(
                    campaign=self.campaign,
                    messages=row.messages,
                    category_path=category,
                    intent=intent,
                    # A row's own id names the new prompt unless another new one took it.
                    external_id=row.external_id
                    if row.external_id
                    and not any(p.external_id == row.external_id for p in new_prompts.values())
                    else None,
                    content_hash=digest,
                    metadata=row.prompt_metadata,
                )
            row_prompt[row.line] = digest
        if log.count:
            return  # nothing will be kept: only keep validating
        if new_prompts:
            Prompt.objects.bulk_create(new_prompts.values())
            self.report.prompts_created += len(new_prompts)
        candidates: dict[str, Candidate] = {}
        for row in batch:
            target = row_prompt[row.line]
            prompt_id = new_prompts[target].pk if isinstance(target, str) else target
            keys = []
            for source_label, text in row.completions:
                key = candidate_key(prompt_id=prompt_id, source=source_label, text=text)
                keys.append(key)
                if key in candidates:
                    self.report.candidate_duplicates += 1
                    continue
                candidates[key] = Candidate(
                    prompt_id=prompt_id,
                    text=text,
                    source=source_label,
                    model=source_label,
                    prior_labels=row.prior_labels,
                    metadata=row.metadata,
                    idempotency_key=key,
                )
            self.touched.add(prompt_id)
            if row.chosen_first is not None and len(keys) == 2 and keys[0] != keys[1]:
                self.preferences.append((keys[0], keys[1]))
        existing = set(
            Candidate.objects.filter(idempotency_key__in=list(candidates)).values_list(
                "idempotency_key", flat=True
            )
        )
        fresh = [c for key, c in candidates.items() if key not in existing]
        for candidate in fresh:
            candidate.html, candidate.html_renderer = stored_html(candidate.text)
        Candidate.objects.bulk_create(fresh)
        self.report.candidates_created += len(fresh)
        self.report.created += len(fresh)  # so far; set again from the total at the end
        self.report.candidate_duplicates += len(existing)

    def finish(self) -> None:
        self.report.pairs_created += pairs_build_bulk(prompt_ids=sorted(self.touched))
        for start in range(0, len(self.preferences), BATCH_SIZE):
            chunk = self.preferences[start : start + BATCH_SIZE]
            ids = dict(
                Candidate.objects.filter(
                    idempotency_key__in=[key for pair in chunk for key in pair]
                ).values_list("idempotency_key", "id")
            )
            wanted: dict[tuple[int, int], float] = {}
            for chosen_key, rejected_key in chunk:
                chosen, rejected = ids[chosen_key], ids[rejected_key]
                first, second = sorted((chosen, rejected))
                # Preference in canonical order: negative when A (the lower id) is better.
                wanted[(first, second)] = -1.0 if chosen == first else 1.0
            pairs = list(
                Pair.objects.filter(candidate_a_id__in={a for a, _ in wanted}).only(
                    "id", "candidate_a_id", "candidate_b_id", "prior_preference"
                )
            )
            changed = []
            for pair in pairs:
                value = wanted.get((pair.candidate_a_id, pair.candidate_b_id))
                if value is not None:
                    pair.prior_preference = value
                    changed.append(pair)
            Pair.objects.bulk_update(changed, ["prior_preference"])


def candidate_import(
    *,
    campaign: Campaign,
    source: str | Path | IO[bytes],
    file_format: str = "",
    filename: str = "",
    source_name: str = "",
    default_category: str | None = None,
    default_intent: str | None = None,
    mapping: Mapping[str, Any] | None = None,
    label_mapping: Mapping[str, Any] | None = None,
    progress: ImportProgress | None = None,
    request_limit: int | None = None,
) -> ImportReport:
    """Import external completions as candidates (and pairs); raises :class:`ImportFailed`
    with every bad line, or :class:`ImportTooLarge` when the file passes a size limit.

    ``label_mapping`` translates the foreign values of prior labels (``jsonl`` and ``csv``
    only) onto the rubric's, see :class:`~.prior_labels.LabelMapping`. ``progress`` and
    ``request_limit`` as for :func:`~.prompts.prompt_import`.
    """
    if file_format and file_format not in FORMATS:
        raise ImportFailed([Problem(0, "format", f"unknown format {file_format!r}")])
    if label_mapping and file_format not in LABELLED_FORMATS:
        raise ImportFailed(
            [
                Problem(
                    0,
                    LABEL_MAPPING_FIELD,
                    f"prior labels in rubric terms come with the {' and '.join(LABELLED_FORMATS)}"
                    f" formats, not {file_format}",
                )
            ]
        )
    labels_mapping = LabelMapping.from_dict(label_mapping)
    log = ProblemLog()
    report = ImportReport()
    if progress is not None:
        progress.follow(log, report)
    checker = RowChecker(
        campaign=campaign,
        log=log,
        default_category=default_category,
        default_intent=default_intent,
    )
    writer = _BatchWriter(campaign, checker, report)
    try:
        stream = open_binary(source, name=filename, request_limit=request_limit)
    except BaseException:
        log.discard()
        raise
    try:
        if not file_format:
            file_format = detect_format(stream, filename or str(source), FORMATS)
        report.file_format = file_format
        with transaction.atomic():
            rows: Iterator[CandidateRow]
            if file_format == "jsonl":
                rows = _rows_jsonl(stream, log, PriorLabelReader(labels_mapping, log))
            elif file_format == "csv":
                rows = _rows_csv(stream, log, PriorLabelReader(labels_mapping, log))
            elif file_format == "xstest-completions":
                name = source_name or xstest_source_name(filename or str(source))
                xstest = XstestMapping.for_import(
                    mapping, default_category=default_category, default_intent=default_intent
                )
                rows = _rows_xstest(stream, log, name, checker, xstest)
            else:
                rows = _rows_hh(stream, log, report)
            batch: list[CandidateRow] = []
            for row in rows:
                report.lines += 1
                batch.append(row)
                if len(batch) >= BATCH_SIZE:
                    writer.write(batch, log)
                    batch = []
            if batch:
                writer.write(batch, log)
            if not log.count and report.lines == 0 and not report.reported:
                log.add(0, "", "the file holds no rows")
            log.raise_if_any()
            writer.finish()
    finally:
        log.discard()  # the full problem list, unless raise_if_any handed it on
        if isinstance(source, str | Path):
            stream.close()
    report.created = report.candidates_created
    report.duplicates = report.candidate_duplicates
    return report


def candidate_import_report_json(report: ImportReport) -> bytes:
    """The report as JSON (for the API and the command's output)."""
    return orjson.dumps(report.as_dict())
