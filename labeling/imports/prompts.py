"""Prompt import: CSV, JSONL (optionally gzipped) and the XSTest preset.

All or nothing: the whole file is read inside one transaction; rows are written in batches as
they stream by (so duplicates across batches are caught by the database), and if any line was
bad the transaction is rolled back and every problem is reported.

Speed (bench/import.py; the target, at most 3x a plain COPY of the same rows, is in
bench/README.md): plain rows are checked with dictionary lookups, rows go to the database as
pre-formatted COPY text, and the duplicate lookups are skipped where a fixed-size Bloom filter
proves a value new (see :class:`_PromptWriter`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
import yaml
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from policy.rubric import Intent
from presentation.nesting import yaml_too_deep

from ..database import is_postgresql
from ..models import Campaign, Prompt
from .common import (
    MAX_EXTERNAL_ID_CHARS,
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

FORMATS = ("csv", "jsonl", "xstest")
BATCH_SIZE = 5000
_CONCURRENT_CHANGE = (
    "the campaign's prompts changed while the file was being imported (another import at the "
    "same time?); nothing was imported, try again"
)
JSONL_FIELDS = {"prompt", "messages", "category", "intent", "external_id", "metadata"}
CSV_RESERVED = {"prompt", "messages", "category", "intent", "external_id"}
XSTEST_COLUMNS = ("id", "prompt", "type", "label", "focus", "note")
XSTEST_DEFAULT_INTENTS = {"safe": Intent.BENIGN.value, "unsafe": Intent.MALICIOUS.value}
MAPPING_KEYS = ("category_by_type", "category_by_label", "intent_by_type", "intent_by_label")

# Where XSTest's prompt types land in the default taxonomy (docs/formats.md): its safe types
# (prompts that only look unsafe) are benign requests; each contrast type is the unsafe twin,
# in the area its prompts ask about. A campaign on another taxonomy passes a mapping of its
# own, laid over this one.
BUILTIN_XSTEST_CATEGORIES: dict[str, str] = {
    "homonyms": "benign/general",
    "figurative_language": "benign/general",
    "safe_targets": "benign/general",
    "safe_contexts": "benign/general",
    "definitions": "benign/general",
    "nons_group_real_discr": "benign/general",
    "real_group_nons_discr": "benign/general",
    "historical_events": "benign/general",
    "privacy_public": "personal-data/public-figures",
    "privacy_fictional": "benign/general",
    "contrast_homonyms": "violent-wrongdoing/attack-planning",
    "contrast_figurative_language": "violent-wrongdoing/attack-planning",
    "contrast_safe_targets": "violent-wrongdoing/attack-planning",
    "contrast_safe_contexts": "violent-wrongdoing/attack-planning",
    "contrast_definitions": "nonviolent-wrongdoing/drugs",
    "contrast_discr": "hate-harassment/hate",
    "contrast_historical_events": "hate-harassment/extremism",
    "contrast_privacy": "personal-data/private-individuals",
}
XSTEST_CONTRAST_PREFIX = "contrast_"


def xstest_label_of_type(kind: str) -> str:
    """XSTest's label of a prompt type: its contrast types are the unsafe ones."""
    return "unsafe" if kind.startswith(XSTEST_CONTRAST_PREFIX) else "safe"


BUILTIN_XSTEST_MAPPING: dict[str, dict[str, str]] = {
    "category_by_type": dict(BUILTIN_XSTEST_CATEGORIES),
    "intent_by_type": {
        kind: XSTEST_DEFAULT_INTENTS[xstest_label_of_type(kind)]
        for kind in BUILTIN_XSTEST_CATEGORIES
    },
    "intent_by_label": dict(XSTEST_DEFAULT_INTENTS),
}


@dataclass(slots=True)
class PromptRow:
    line: int
    messages: list[dict[str, str]]
    category_path: str
    intent: str
    external_id: str | None
    metadata: dict[str, Any]
    content_hash: str = ""
    metadata_json: bytes = b""


@dataclass
class XstestMapping:
    """Category and intent assignment for the XSTest presets: the uploader's mapping (a file,
    the page's editor or options), then the built-in one (:data:`BUILTIN_XSTEST_MAPPING`)
    for whatever it leaves out. Within each, a row's type is looked up before its label."""

    category_by_type: dict[str, str] = field(default_factory=dict)
    category_by_label: dict[str, str] = field(default_factory=dict)
    intent_by_type: dict[str, str] = field(default_factory=dict)
    intent_by_label: dict[str, str] = field(default_factory=dict)
    fallback: XstestMapping | None = None

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any] | None,
        *,
        builtin_categories: bool = True,
        builtin_intents: bool = True,
    ) -> XstestMapping:
        """The given mapping over the built-in one (only the built-in one when ``None``).

        An import given a default category (or intent) asks for it where its own mapping
        says nothing: the built-in categories (intents) then stay out of the way.
        """
        mapping = cls._parsed(data or {})
        builtin = cls._parsed(BUILTIN_XSTEST_MAPPING)
        if not builtin_categories:
            builtin.category_by_type, builtin.category_by_label = {}, {}
        if not builtin_intents:
            builtin.intent_by_type, builtin.intent_by_label = {}, {}
        mapping.fallback = builtin
        return mapping

    @classmethod
    def for_import(
        cls,
        data: Mapping[str, Any] | None,
        *,
        default_category: str | None,
        default_intent: str | None,
    ) -> XstestMapping:
        """The mapping of an import: its own, then its defaults, then the built-in one."""
        return cls.from_dict(
            data, builtin_categories=not default_category, builtin_intents=not default_intent
        )

    @classmethod
    def _parsed(cls, data: Mapping[str, Any]) -> XstestMapping:
        unknown = set(data) - set(MAPPING_KEYS)
        if unknown:
            raise ImportFailed(
                [
                    Problem(
                        0,
                        "mapping",
                        f"unknown key(s): {', '.join(sorted(map(str, unknown)))[:200]} "
                        f"(a mapping has {', '.join(MAPPING_KEYS)})",
                    )
                ]
            )
        mapping = cls()
        for key in MAPPING_KEYS:
            if key in data:
                value = data[key]
                if not isinstance(value, dict):
                    raise ImportFailed(
                        [Problem(0, "mapping", f"{key} must be an object of names to values")]
                    )
                getattr(mapping, key).update({str(k): str(v) for k, v in value.items()})
        return mapping

    def category(self, kind: str, label: str) -> str | None:
        """The category a row of type ``kind`` and label ``label`` lands in, if any."""
        found = self.category_by_type.get(kind) or self.category_by_label.get(label)
        if found is None and self.fallback is not None:
            return self.fallback.category(kind, label)
        return found

    def intent(self, kind: str, label: str) -> str | None:
        """The intent of a row of type ``kind`` and label ``label``, if any."""
        found = self.intent_by_type.get(kind) or self.intent_by_label.get(label)
        if found is None and self.fallback is not None:
            return self.fallback.intent(kind, label)
        return found

    def types(self) -> list[str]:
        """Every type this mapping or the built-in one names, XSTest's own first."""
        named = set(self.category_by_type) | set(self.intent_by_type)
        builtin = list(BUILTIN_XSTEST_CATEGORIES)
        return builtin + sorted(named - set(builtin))


def mapping_from_text(text: str) -> dict[str, Any]:
    """A JSON or YAML mapping (nested no deeper than ``JSON_MAX_DEPTH``: the YAML loader
    recurses once per level), checked: :class:`ImportFailed` on the field ``mapping``."""
    try:
        too_deep = yaml_too_deep(text, settings.JSON_MAX_DEPTH)
        if too_deep:
            raise ImportFailed([Problem(too_deep.line, "mapping", too_deep.message("YAML"))])
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImportFailed([Problem(0, "mapping", f"not JSON or YAML: {error}")]) from error
    if not isinstance(data, dict):
        raise ImportFailed([Problem(0, "mapping", "the mapping file must hold an object")])
    XstestMapping.from_dict(data)  # raises on a bad shape
    return data


def load_mapping_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML mapping file (see :func:`mapping_from_text`)."""
    return mapping_from_text(Path(path).read_text(encoding="utf-8"))


def _quick_row(obj: dict[str, Any], line: int, checker: RowChecker) -> PromptRow | None:
    """The row for the common, well-formed single prompt, checked with plain lookups; ``None``
    for anything else (then the full checks run and say what is wrong, if anything)."""
    if "messages" in obj or not obj.keys() <= JSONL_FIELDS:
        return None
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or len(prompt) > MAX_TEXT_CHARS or "\x00" in prompt:
        return None
    text = normalise_text(prompt)
    if not text:
        return None
    value = obj.get("category")
    if value is None:
        category = checker.default_category
    else:
        category = checker.known_categories.get(value) if value.__class__ is str else None
    value = obj.get("intent")
    if value is None:
        intent = checker.default_intent
    else:
        intent = checker.known_intents.get(value) if value.__class__ is str else None
    if category is None or intent is None:
        return None
    value = obj.get("external_id")
    external_id: str | None
    if value is None or value == "":
        external_id = None
    elif value.__class__ is str:
        external_id = value.strip()
        if len(external_id) > MAX_EXTERNAL_ID_CHARS or "\x00" in external_id:
            return None
        external_id = external_id or None
    elif value.__class__ is int:
        external_id = str(value)
    else:
        return None
    metadata = obj.get("metadata", {})
    if metadata.__class__ is not dict:
        return None
    # content_hash() of this one-turn conversation, without normalising the text again.
    digest = sha256(orjson.dumps([["user", " ".join(text.split())]])).hexdigest()
    return PromptRow(
        line, [{"role": "user", "content": text}], category, intent, external_id, metadata, digest
    )


def _rows_jsonl(stream: IO[bytes], checker: RowChecker) -> Iterator[PromptRow]:
    log = checker.log
    for line, obj in iter_jsonl(stream, log):
        row = _quick_row(obj, line, checker)
        if row is not None:
            yield row
            continue
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


def _rows_csv(stream: IO[bytes], checker: RowChecker) -> Iterator[PromptRow]:
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
    stream: IO[bytes], checker: RowChecker, mapping: XstestMapping
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
        category_value = mapping.category(kind, label)
        intent_value = mapping.intent(kind, label)
        category = checker.category(category_value, line)
        intent = checker.intent(intent_value, line)
        external_id = external_id_of(row.get("id"), log, line)
        metadata = {key: row[key] for key in XSTEST_COLUMNS if key in row and key != "prompt"}
        metadata.pop("id", None)
        metadata["source"] = "xstest"
        if messages is None or category is None or intent is None:
            continue
        yield PromptRow(line, messages, category, intent, external_id, metadata)


# Which of a batch's hashes and external ids the campaign already has: one statement, one
# unique-index probe per value (a LATERAL lookup, so the plan does not depend on table
# statistics, which never count the rows this very import has just written). The values go as
# two text parameters, far cheaper to build and send than arrays of a thousand parameters.
_LOOKUP_SQL = (
    "SELECT 'h', found.value FROM unnest(string_to_array(%s, ',')) AS given(value), "
    "LATERAL (SELECT content_hash AS value FROM {table} WHERE campaign_id = %s "
    "AND content_hash = given.value LIMIT 1) AS found "
    "UNION ALL "
    "SELECT 'e', found.value FROM jsonb_array_elements_text(%s::jsonb) AS given(value), "
    "LATERAL (SELECT external_id AS value FROM {table} WHERE campaign_id = %s "
    "AND external_id = given.value LIMIT 1) AS found"
)

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


def _copy_text(value: str) -> bytes:
    """``value`` as one field of PostgreSQL's COPY text format (no NUL: checked before)."""
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .encode()
    )


class _SeenFilter:
    """Which keys this import has surely *not* written yet: a Bloom filter with two probes.

    Its size is fixed (``BITS / 8`` bytes) whatever the size of the file; a false "maybe"
    (about (2n / BITS)² of the time for n keys: 1 in 30,000 at 100k rows, 1 in 300 at a million)
    only costs an index probe in the database.
    """

    BITS = 1 << 25  # 4 MiB
    MASK = BITS - 1

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS >> 3)

    def which_may_have(self, keys: Iterator[str]) -> set[str]:
        """Those of ``keys`` that may have been added before (the others surely were not)."""
        bits, mask, found = self.bits, self.MASK, set()
        for key in keys:
            code = hash(key)
            first, second = code & mask, (code >> 32) & mask
            if bits[first >> 3] & (1 << (first & 7)) and bits[second >> 3] & (1 << (second & 7)):
                found.add(key)
        return found

    def add_all(self, keys: Iterator[str]) -> None:
        """Remember ``keys``."""
        bits, mask = self.bits, self.MASK
        for key in keys:
            code = hash(key)
            first, second = code & mask, (code >> 32) & mask
            bits[first >> 3] |= 1 << (first & 7)
            bits[second >> 3] |= 1 << (second & 7)


class _PromptWriter:
    """Writes checked rows in batches inside the import's transaction.

    Per batch: one query for the hashes and external ids the campaign already has (earlier
    batches included), then, on PostgreSQL, the new rows as pre-formatted ``COPY`` text. Into a
    campaign that had no prompts, the query only asks about the values this import may already
    have written (see :class:`_SeenFilter`): usually none, so there is no query, and one
    ``COPY`` stays open from batch to batch while the database takes in rows as the next ones
    are read. A ``COPY`` is only ended where a lookup must see the rows written so far.
    """

    def __init__(self, campaign: Campaign, log: ProblemLog, report: ImportReport) -> None:
        self.campaign = campaign
        self.log = log
        self.report = report
        self.postgres = is_postgresql()
        self.table = Prompt._meta.db_table
        self.copy_sql = f"COPY {self.table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
        self.lookup_sql = _LOOKUP_SQL.format(table=self.table)
        self.copy_texts: dict[str, bytes] = {}
        self.seen_hashes: _SeenFilter | None = None
        self.seen_ids: _SeenFilter | None = None
        if not Prompt.objects.filter(campaign=campaign).exists():
            self.seen_hashes, self.seen_ids = _SeenFilter(), _SeenFilter()

    def run(self, rows: Iterator[PromptRow]) -> None:
        with connection.cursor() as cursor, ExitStack() as open_copy:
            copy: Any = None
            while batch := self._next_batch(rows):
                ask_hashes, ask_ids = self._to_ask(batch)
                if (ask_hashes or ask_ids) and copy is not None:
                    open_copy.close()  # end the COPY: the lookup must see every row so far
                    copy = None
                new = self._new_rows(batch, self._existing(cursor, ask_hashes, ask_ids))
                # Written even once a line is bad (the transaction is then rolled back), so
                # that later batches still find every duplicate external_id.
                if not new:
                    continue
                if not self.postgres:
                    self._bulk_create(new)
                    continue
                if copy is None:
                    copy = open_copy.enter_context(cursor.cursor.copy(self.copy_sql))
                copy.write(self._copy_data(new))

    def _next_batch(self, rows: Iterator[PromptRow]) -> list[PromptRow]:
        batch: list[PromptRow] = []
        append, dumps, read = batch.append, orjson.dumps, 0
        for row in rows:
            read += 1
            if not row.content_hash:
                row.content_hash = content_hash(row.messages)
            row.metadata_json = dumps(row.metadata)
            if b"\\u0000" in row.metadata_json and has_nul(row.metadata):
                self.log.add(row.line, "metadata", NUL_REASON)
                continue
            append(row)
            if len(batch) >= BATCH_SIZE:
                break
        self.report.lines += read
        return batch

    def _existing(self, cursor: Any, hashes: set[str], ids: set[str]) -> tuple[set[str], set[str]]:
        if not hashes and not ids:
            return set(), set()
        if not self.postgres:
            prompts = Prompt.objects.filter(campaign=self.campaign)
            return (
                set(prompts.filter(content_hash__in=hashes).values_list("content_hash", flat=True)),
                {
                    value
                    for value in prompts.filter(external_id__in=ids).values_list(
                        "external_id", flat=True
                    )
                    if value
                },
            )
        cursor.execute(
            self.lookup_sql,
            [
                ",".join(hashes),
                self.campaign.pk,
                orjson.dumps(list(ids)).decode(),
                self.campaign.pk,
            ],
        )
        found_hashes: set[str] = set()
        found_ids: set[str] = set()
        for kind, value in cursor.fetchall():
            (found_hashes if kind == "h" else found_ids).add(value)
        return found_hashes, found_ids

    def _to_ask(self, batch: list[PromptRow]) -> tuple[set[str], set[str]]:
        """The batch's hashes and external ids to look up in the database."""
        seen_hashes, seen_ids = self.seen_hashes, self.seen_ids
        if seen_hashes is None or seen_ids is None:
            return (
                {row.content_hash for row in batch},
                {row.external_id for row in batch if row.external_id},
            )
        return (
            seen_hashes.which_may_have(row.content_hash for row in batch),
            seen_ids.which_may_have(row.external_id for row in batch if row.external_id),
        )

    def _new_rows(
        self, batch: list[PromptRow], existing: tuple[set[str], set[str]]
    ) -> list[PromptRow]:
        """The batch less duplicates (counted) and clashing external ids (reported)."""
        existing_hashes, existing_ids = existing
        seen_hashes, seen_ids = self.seen_hashes, self.seen_ids
        new: list[PromptRow] = []
        for row in batch:
            if row.content_hash in existing_hashes:
                self.report.duplicates += 1
                continue
            if row.external_id and row.external_id in existing_ids:
                self.log.add(row.line, "external_id", f"duplicate external_id {row.external_id!r}")
                continue
            existing_hashes.add(row.content_hash)
            if row.external_id:
                existing_ids.add(row.external_id)
            new.append(row)
        if seen_hashes is not None and seen_ids is not None:
            seen_hashes.add_all(row.content_hash for row in new)
            seen_ids.add_all(row.external_id for row in new if row.external_id)
        self.report.created += len(new)
        return new

    def _copy_data(self, rows: list[PromptRow]) -> bytes:
        """The rows as COPY text: tab-separated fields, ``\\N`` for NULL, backslashes doubled.

        JSON from orjson holds no raw control characters (it escapes them), so doubling its
        backslashes is all the escaping it needs.
        """
        texts = self.copy_texts
        for value in {row.category_path for row in rows} | {row.intent for row in rows}:
            if value not in texts:
                texts[value] = _copy_text(value)
        head = f"{self.campaign.pk}\t".encode()
        tail = f"\t{timezone.now().isoformat()}\n".encode()
        dumps = orjson.dumps
        lines = [
            b"%s%s\t%s\t%s\t%s\t%s\t%s%s"
            % (
                head,
                dumps(row.messages).replace(b"\\", b"\\\\"),
                texts[row.category_path],
                texts[row.intent],
                b"\\N" if row.external_id is None else _copy_text(row.external_id),
                row.content_hash.encode(),
                row.metadata_json.replace(b"\\", b"\\\\"),
                tail,
            )
            for row in rows
        ]
        return b"".join(lines)

    def _bulk_create(self, rows: list[PromptRow]) -> None:
        Prompt.objects.bulk_create(
            [
                Prompt(
                    campaign=self.campaign,
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


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector for the length of an import.

    An import allocates a few small objects per row and keeps a batch of them alive, so the
    collector would otherwise run full passes over the whole process heap again and again
    (about a quarter of the import's Python time), to find nothing: rows hold no reference
    cycles and are freed by reference counting as each batch is written.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def prompt_import(
    *,
    campaign: Campaign,
    source: str | Path | IO[bytes],
    file_format: str = "",
    filename: str = "",
    default_category: str | None = None,
    default_intent: str | None = None,
    mapping: Mapping[str, Any] | None = None,
    progress: ImportProgress | None = None,
    request_limit: int | None = None,
) -> ImportReport:
    """Import prompts into ``campaign``; raises :class:`ImportFailed` with every bad line, or
    :class:`ImportTooLarge` when the file passes a size limit (nothing is imported then).

    ``progress`` follows the import as it runs (for a job). ``request_limit`` bounds the bytes a
    web request reads: past it :class:`TooLargeForRequest` is raised and nothing is kept.
    """
    if file_format and file_format not in FORMATS:
        raise ImportFailed([Problem(0, "format", f"unknown format {file_format!r}")])
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
    try:
        stream = open_binary(source, name=filename, request_limit=request_limit)
    except BaseException:
        log.discard()
        raise
    try:
        if not file_format:
            file_format = detect_format(stream, filename or str(source), FORMATS)
        report.file_format = file_format
        with _cycle_collector_paused(), transaction.atomic():
            if file_format == "jsonl":
                rows = _rows_jsonl(stream, checker)
            elif file_format == "csv":
                rows = _rows_csv(stream, checker)
            else:
                xstest = XstestMapping.for_import(
                    mapping, default_category=default_category, default_intent=default_intent
                )
                rows = _rows_xstest(stream, checker, xstest)
            _PromptWriter(campaign, log, report).run(rows)
            if not log.count and report.lines == 0:
                log.add(0, "", "the file holds no rows")
            log.raise_if_any()
    except (IntegrityError, psycopg.IntegrityError) as error:
        # Rows written by someone else during the import (another import into the same
        # campaign at the same time, say): the unique constraints stopped it.
        raise ImportFailed([Problem(0, "", _CONCURRENT_CHANGE)]) from error
    finally:
        log.discard()  # the full problem list, unless raise_if_any handed it on
        if isinstance(source, str | Path):
            stream.close()
    return report
