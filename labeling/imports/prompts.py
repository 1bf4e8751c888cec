"""Prompt import: CSV, JSONL (optionally gzipped) and the XSTest preset.

All or nothing: the whole file is read inside one transaction; rows are written in batches as
they stream by (so duplicates across batches are caught by the database), and if any line was
bad the transaction is rolled back and every problem is reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from ..models import Campaign, Prompt
from .common import (
    CategoryResolver,
    ImportFailed,
    ImportReport,
    Problem,
    ProblemLog,
    check_intent,
    check_messages,
    check_prompt_text,
    content_hash,
    external_id_of,
    iter_csv,
    iter_jsonl,
    open_binary,
)

FORMATS = ("csv", "jsonl", "xstest")
BATCH_SIZE = 1000
JSONL_FIELDS = {"prompt", "messages", "category", "intent", "external_id", "metadata"}
CSV_RESERVED = {"prompt", "messages", "category", "intent", "external_id"}
XSTEST_COLUMNS = ("id", "prompt", "type", "label", "focus", "note")
XSTEST_DEFAULT_INTENTS = {"safe": "benign", "unsafe": "malicious"}


@dataclass
class PromptRow:
    line: int
    messages: list[dict[str, str]]
    category_path: str
    intent: str
    external_id: str | None
    metadata: dict[str, Any]
    content_hash: str = ""


@dataclass
class XstestMapping:
    """Category and intent assignment for the XSTest preset (from a mapping file or options)."""

    category_by_type: dict[str, str] = field(default_factory=dict)
    category_by_label: dict[str, str] = field(default_factory=dict)
    intent_by_type: dict[str, str] = field(default_factory=dict)
    intent_by_label: dict[str, str] = field(default_factory=lambda: dict(XSTEST_DEFAULT_INTENTS))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> XstestMapping:
        data = data or {}
        mapping = cls()
        for key in ("category_by_type", "category_by_label", "intent_by_type", "intent_by_label"):
            if key in data:
                value = data[key]
                if not isinstance(value, dict):
                    raise ImportFailed([Problem(0, key, "the mapping must be an object")])
                getattr(mapping, key).update({str(k): str(v) for k, v in value.items()})
        unknown = set(data) - {
            "category_by_type",
            "category_by_label",
            "intent_by_type",
            "intent_by_label",
        }
        if unknown:
            raise ImportFailed(
                [Problem(0, "mapping", f"unknown key(s): {', '.join(sorted(unknown))}")]
            )
        return mapping


def load_mapping_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML mapping file."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ImportFailed([Problem(0, "mapping", "the mapping file must hold an object")])
    return data


def guess_format(filename: str) -> str:
    """``csv`` or ``jsonl`` from a file name (``.gz`` allowed)."""
    name = filename.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise ImportFailed([Problem(0, "format", f"cannot tell the format of {filename!r}")])


class _RowChecker:
    def __init__(
        self,
        *,
        campaign: Campaign,
        log: ProblemLog,
        default_category: str | None,
        default_intent: str | None,
    ) -> None:
        self.log = log
        self.resolver = CategoryResolver(campaign.policy_version)
        self.default_category: str | None = None
        self.default_intent: str | None = None
        if default_category:
            path, reason = self.resolver.resolve(default_category)
            if path is None:
                log.add(0, "default_category", reason)
            self.default_category = path
        if default_intent:
            intent = check_intent(default_intent)
            if intent is None:
                log.add(0, "default_intent", f"unknown intent {default_intent!r}")
            self.default_intent = intent

    def category(self, value: Any, line: int) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.default_category is None:
                self.log.add(line, "category", "missing, and the import has no default category")
            return self.default_category
        path, reason = self.resolver.resolve(value)
        if path is None:
            self.log.add(line, "category", reason)
        return path

    def intent(self, value: Any, line: int) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.default_intent is None:
                self.log.add(line, "intent", "missing, and the import has no default intent")
            return self.default_intent
        intent = check_intent(value)
        if intent is None:
            self.log.add(
                line, "intent", f"unknown intent {str(value)[:40]!r} (benign, dual_use, malicious)"
            )
        return intent


def _rows_jsonl(stream: IO[bytes], checker: _RowChecker) -> Iterator[PromptRow]:
    log = checker.log
    for line, obj in iter_jsonl(stream, log):
        unknown = set(obj) - JSONL_FIELDS
        if unknown:
            log.add(line, "", f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
        has_prompt, has_messages = "prompt" in obj, "messages" in obj
        messages = None
        if has_prompt and has_messages:
            log.add(line, "prompt", "give either prompt or messages, not both")
        elif has_messages:
            messages = check_messages(obj["messages"], log, line)
        elif has_prompt:
            messages = check_prompt_text(obj["prompt"], log, line)
        else:
            log.add(line, "prompt", "missing: each line needs prompt or messages")
        metadata = obj.get("metadata", {})
        if not isinstance(metadata, dict):
            log.add(line, "metadata", "must be a JSON object")
        category = checker.category(obj.get("category"), line)
        intent = checker.intent(obj.get("intent"), line)
        external_id = external_id_of(obj.get("external_id"), log, line)
        if messages is None or category is None or intent is None or unknown:
            continue
        if not isinstance(metadata, dict):
            continue
        yield PromptRow(line, messages, category, intent, external_id, metadata)


def _rows_csv(stream: IO[bytes], checker: _RowChecker) -> Iterator[PromptRow]:
    log = checker.log
    header_checked = False
    for line, row, header in iter_csv(stream, log):
        if not header_checked:
            header_checked = True
            if "prompt" not in header and "messages" not in header:
                log.add(1, "prompt", "the header has neither a prompt nor a messages column")
        if "prompt" not in header and "messages" not in header:
            continue
        messages = None
        if row.get("messages", "").strip():
            try:
                parsed = orjson.loads(row["messages"])
            except orjson.JSONDecodeError as error:
                log.add(line, "messages", f"malformed JSON: {error}")
            else:
                messages = check_messages(parsed, log, line)
            if row.get("prompt", "").strip():
                log.add(line, "prompt", "give either prompt or messages, not both")
                messages = None
        else:
            messages = check_prompt_text(row.get("prompt", ""), log, line)
        category = checker.category(row.get("category"), line)
        intent = checker.intent(row.get("intent"), line)
        external_id = external_id_of(row.get("external_id"), log, line)
        metadata = {key: value for key, value in row.items() if key not in CSV_RESERVED}
        if messages is None or category is None or intent is None:
            continue
        yield PromptRow(line, messages, category, intent, external_id, metadata)


def _rows_xstest(
    stream: IO[bytes], checker: _RowChecker, mapping: XstestMapping
) -> Iterator[PromptRow]:
    log = checker.log
    header_checked = False
    for line, row, header in iter_csv(stream, log):
        if not header_checked:
            header_checked = True
            missing = [name for name in ("id", "prompt", "type", "label") if name not in header]
            if missing:
                log.add(1, "", f"not an XSTest prompts file: missing {', '.join(missing)}")
        if "prompt" not in header:
            continue
        messages = check_prompt_text(row.get("prompt", ""), log, line)
        kind, label = row.get("type", "").strip(), row.get("label", "").strip()
        category_value = mapping.category_by_type.get(kind) or mapping.category_by_label.get(label)
        intent_value = mapping.intent_by_type.get(kind) or mapping.intent_by_label.get(label)
        category = checker.category(category_value, line)
        intent = checker.intent(intent_value, line)
        external_id = external_id_of(row.get("id"), log, line)
        metadata = {key: row[key] for key in XSTEST_COLUMNS if key in row and key != "prompt"}
        metadata.pop("id", None)
        metadata["source"] = "xstest"
        if messages is None or category is None or intent is None:
            continue
        yield PromptRow(line, messages, category, intent, external_id, metadata)


def _existing(campaign: Campaign, column: str, values: set[str]) -> set[str]:
    """Which of ``values`` the campaign already has in ``column`` (one indexed query)."""
    if not values:
        return set()
    if connection.vendor == "postgresql":
        # One array parameter instead of a thousand: far cheaper to build and to send.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {column} FROM {Prompt._meta.db_table} "  # noqa: S608 - fixed names
                f"WHERE campaign_id = %s AND {column} = ANY(%s)",
                [campaign.pk, list(values)],
            )
            return {value for (value,) in cursor.fetchall()}
    lookup = {"campaign": campaign, f"{column}__in": values}
    return set(Prompt.objects.filter(**lookup).values_list(column, flat=True))


def _write_batch(
    campaign: Campaign, batch: list[PromptRow], log: ProblemLog, report: ImportReport
) -> None:
    """Insert one batch; duplicates against the campaign (earlier batches included) are found
    with two indexed lookups per batch rather than one per row."""
    existing_hashes = _existing(campaign, "content_hash", {row.content_hash for row in batch})
    existing_ids = _existing(
        campaign, "external_id", {row.external_id for row in batch if row.external_id}
    )
    new: list[PromptRow] = []
    for row in batch:
        if row.content_hash in existing_hashes:
            report.duplicates += 1
            continue
        if row.external_id and row.external_id in existing_ids:
            log.add(row.line, "external_id", f"duplicate external_id {row.external_id!r}")
            continue
        existing_hashes.add(row.content_hash)
        if row.external_id:
            existing_ids.add(row.external_id)
        new.append(row)
    if new and not log.problems:
        # Once a line is bad nothing will be kept, so stop writing and only keep validating.
        _insert(campaign, new)
    report.created += len(new)


_COPY_COLUMNS = (
    "campaign_id",
    "messages",
    "category_path",
    "intent",
    "external_id",
    "content_hash",
    "metadata",
    "created_at",
)


def _insert(campaign: Campaign, rows: list[PromptRow]) -> None:
    """Insert a batch: COPY on PostgreSQL (several times faster than INSERT), else bulk_create.

    The rows go into the same transaction as the rest of the import, so COPY keeps the
    all-or-nothing rule; the unique constraints still hold (a violation aborts the import).
    """
    if connection.vendor != "postgresql":
        Prompt.objects.bulk_create(
            [
                Prompt(
                    campaign=campaign,
                    messages=row.messages,
                    category_path=row.category_path,
                    intent=row.intent,
                    external_id=row.external_id,
                    content_hash=row.content_hash,
                    metadata=row.metadata,
                )
                for row in rows
            ],
            batch_size=BATCH_SIZE,
        )
        return
    now = timezone.now()
    table = Prompt._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(
                (
                    campaign.pk,
                    orjson.dumps(row.messages).decode(),
                    row.category_path,
                    row.intent,
                    row.external_id,
                    row.content_hash,
                    orjson.dumps(row.metadata).decode(),
                    now,
                )
            )


def prompt_import(
    *,
    campaign: Campaign,
    source: str | Path | IO[bytes],
    file_format: str = "",
    filename: str = "",
    default_category: str | None = None,
    default_intent: str | None = None,
    mapping: Mapping[str, Any] | None = None,
) -> ImportReport:
    """Import prompts into ``campaign``; raises :class:`ImportFailed` with every bad line."""
    if not file_format:
        file_format = guess_format(filename or str(source))
    if file_format not in FORMATS:
        raise ImportFailed([Problem(0, "format", f"unknown format {file_format!r}")])
    log = ProblemLog()
    report = ImportReport()
    checker = _RowChecker(
        campaign=campaign,
        log=log,
        default_category=default_category,
        default_intent=default_intent,
    )
    stream = open_binary(source)
    try:
        with transaction.atomic():
            if file_format == "jsonl":
                rows = _rows_jsonl(stream, checker)
            elif file_format == "csv":
                rows = _rows_csv(stream, checker)
            else:
                rows = _rows_xstest(stream, checker, XstestMapping.from_dict(mapping))
            batch: list[PromptRow] = []
            for row in rows:
                report.lines += 1
                row.content_hash = content_hash(row.messages)
                batch.append(row)
                if len(batch) >= BATCH_SIZE:
                    _write_batch(campaign, batch, log, report)
                    batch = []
            if batch:
                _write_batch(campaign, batch, log, report)
            if not log.problems and report.lines == 0:
                log.add(0, "", "the file holds no rows")
            log.raise_if_any()
    finally:
        if isinstance(source, str | Path):
            stream.close()
    return report
