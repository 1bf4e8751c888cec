"""What every importer shares: streamed readers, problems, normalisation, category lookup.

Readers never hold the whole file: they yield one record at a time with its line number, and a
record that cannot be read becomes a :class:`Problem` instead of stopping the read, so the user
gets every bad line in one report.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from policy.models import PolicyVersion
from policy.rubric import INTENTS

from ..models import Campaign

MAX_LINE_BYTES = 1_000_000
MAX_TEXT_CHARS = 100_000
MAX_EXTERNAL_ID_CHARS = 200
ROLES = ("system", "user", "assistant")
GZIP_MAGIC = b"\x1f\x8b"
NUL_REASON = "contains a NUL character (\\u0000), which cannot be stored"

csv.field_size_limit(MAX_LINE_BYTES)


@dataclass(frozen=True)
class Problem:
    """One bad line: where, which field, why."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class ImportFailed(Exception):
    """Raised when any line is bad: the import's transaction is rolled back, nothing is kept."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} bad line(s); nothing was imported")


@dataclass
class ImportReport:
    """What an import did (on success) — counts, and rows reported but not imported."""

    created: int = 0
    duplicates: int = 0
    candidates_created: int = 0
    candidate_duplicates: int = 0
    prompts_created: int = 0
    pairs_created: int = 0
    lines: int = 0
    reported: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "created": self.created,
            "duplicates": self.duplicates,
            "prompts_created": self.prompts_created,
            "candidates_created": self.candidates_created,
            "candidate_duplicates": self.candidate_duplicates,
            "pairs_created": self.pairs_created,
            "reported": [p.as_dict() for p in self.reported],
        }


class ProblemLog:
    """Collects problems as the file streams by."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, line: int, field_name: str, reason: str) -> None:
        self.problems.append(Problem(line, field_name, reason))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ImportFailed(sorted(self.problems, key=lambda p: (p.line, p.field)))


def open_binary(source: str | Path | IO[bytes]) -> IO[bytes]:
    """A binary stream of the file's bytes, transparently gunzipped (detected by magic bytes)."""
    stream: Any = (
        open(source, "rb")  # noqa: SIM115 - the caller closes it
        if isinstance(source, str | Path)
        else source
    )
    if getattr(stream, "seekable", lambda: False)():
        head = stream.read(2)
        stream.seek(0)
    else:
        stream = io.BufferedReader(stream)
        head = stream.peek(2)[:2]
    if head == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return stream


def iter_raw_lines(stream: IO[bytes], log: ProblemLog) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each physical line; ``None`` for a line too long to keep.

    Reads at most ``MAX_LINE_BYTES`` at a time, so one enormous line cannot exhaust memory. A
    UTF-8 byte order mark at the start of the file is dropped.
    """
    number = 0
    readline = stream.readline
    while True:
        try:
            raw = readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError) as error:  # a truncated or corrupt gzip stream
            log.add(number + 1, "", f"the file cannot be read: {error}")
            return
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            # Skip the rest of this huge line without keeping it.
            while True:
                rest = readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            log.add(number, "", f"line longer than {MAX_LINE_BYTES} bytes")
            yield number, None
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield number, raw


def decode_line(raw: bytes, number: int, log: ProblemLog) -> str | None:
    """The text of one line, or ``None`` after logging why it is not UTF-8 text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        log.add(number, "", f"bad encoding (not UTF-8) at byte {error.start}")
        return None
    if "\x00" in text:
        log.add(number, "", "binary data (NUL byte): not a text file")
        return None
    return text


def iter_lines(stream: IO[bytes], log: ProblemLog) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for each physical line; ``None`` text for a line that is unreadable."""
    for number, raw in iter_raw_lines(stream, log):
        yield number, None if raw is None else decode_line(raw, number, log)


def iter_jsonl(stream: IO[bytes], log: ProblemLog) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank JSONL line; bad lines go to ``log``.

    A well-formed line is parsed straight from its bytes (orjson checks the UTF-8 itself); only
    a line that fails is decoded again, to say precisely what is wrong with it.
    """
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, raw in iter_raw_lines(stream, log):
        if raw is None:
            continue
        value: Any = None
        if b"\x00" not in raw:
            try:
                value = loads(raw)
            except decode_error:
                value = None
        if value is None:
            # Not parsed (or a literal null): take the slow road for the exact reason.
            text = decode_line(raw, number, log)
            if text is None or not text.strip():
                continue
            try:
                value = loads(text)
            except decode_error as error:
                log.add(number, "", f"malformed JSON: {error}")
                continue
        if not isinstance(value, dict):
            log.add(number, "", "each line must be a JSON object")
            continue
        yield number, value


def iter_csv(stream: IO[bytes], log: ProblemLog) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """(first line number, row as dict, header) for each CSV record; bad records go to ``log``."""
    bad_lines: set[int] = set()
    state = {"line": 0}

    def text_lines() -> Iterator[str]:
        for number, text in iter_lines(stream, log):
            state["line"] = number
            if text is None:
                bad_lines.add(number)
                yield "\n"
            else:
                yield text

    reader = csv.reader(text_lines())
    header: list[str] | None = None
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            log.add(state["line"], "", f"malformed CSV: {error}")
            previous_end = state["line"]
            continue
        start, end = previous_end + 1, reader.line_num
        previous_end = end
        if any(start <= n <= end for n in bad_lines):
            continue
        if not record or all(not cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip() for cell in record]
            duplicates = {name for name in header if header.count(name) > 1}
            if duplicates:
                log.add(start, "", f"duplicate column(s): {', '.join(sorted(duplicates))}")
            continue
        if len(record) != len(header):
            log.add(start, "", f"expected {len(header)} columns, found {len(record)}")
            continue
        yield start, dict(zip(header, record, strict=True)), header


def normalise_text(text: str) -> str:
    """Unicode NFC with surrounding whitespace removed (what is stored)."""
    if text.isascii():  # constant time; ASCII is already in NFC
        return text.strip()
    return unicodedata.normalize("NFC", text).strip()


def content_hash(messages: list[dict[str, str]]) -> str:
    """sha256 of the normalised conversation: role and text, whitespace collapsed, case kept.

    Whitespace runs (``str.isspace``, the same set as the regex ``\\s``) become one space.
    """
    canonical = [[m["role"], " ".join(normalise_text(m["content"]).split())] for m in messages]
    return hashlib.sha256(orjson.dumps(canonical)).hexdigest()


def check_messages(value: Any, log: ProblemLog, line: int) -> list[dict[str, str]] | None:
    """Validate a ``messages`` value; the normalised list, or ``None`` after logging why."""
    if not isinstance(value, list) or not value:
        log.add(line, "messages", "must be a non-empty list of {role, content} objects")
        return None
    messages: list[dict[str, str]] = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or set(message) - {"role", "content", "name"}:
            log.add(line, "messages", f"turn {index + 1} must be an object with role and content")
            return None
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            log.add(line, "messages", f"turn {index + 1} has unknown role {str(role)[:40]!r}")
            return None
        if not isinstance(content, str) or not content.strip():
            log.add(line, "messages", f"turn {index + 1} has no text content")
            return None
        if len(content) > MAX_TEXT_CHARS:
            log.add(
                line, "messages", f"turn {index + 1} is longer than {MAX_TEXT_CHARS} characters"
            )
            return None
        if "\x00" in content:
            log.add(line, "messages", f"turn {index + 1} {NUL_REASON}")
            return None
        messages.append({"role": role, "content": normalise_text(content)})
    if messages[-1]["role"] != "user":
        log.add(line, "messages", "the conversation must end with a user turn")
        return None
    return messages


def check_prompt_text(value: Any, log: ProblemLog, line: int) -> list[dict[str, str]] | None:
    """A single ``prompt`` text as a one-turn conversation, or ``None`` after logging why."""
    if not isinstance(value, str) or not value.strip():
        log.add(line, "prompt", "missing or empty")
        return None
    if len(value) > MAX_TEXT_CHARS:
        log.add(line, "prompt", f"longer than {MAX_TEXT_CHARS} characters")
        return None
    if "\x00" in value:
        log.add(line, "prompt", NUL_REASON)
        return None
    return [{"role": "user", "content": normalise_text(value)}]


def check_intent(value: Any) -> str | None:
    """The canonical intent for ``value`` (``dual-use`` is accepted for ``dual_use``)."""
    if not isinstance(value, str):
        return None
    canonical = value.strip().lower().replace("-", "_").replace(" ", "_")
    return canonical if canonical in INTENTS else None


class CategoryResolver:
    """Maps a category path or a unique leaf slug to a leaf path of one policy version."""

    def __init__(self, policy_version: PolicyVersion) -> None:
        self.leaves = set(policy_version.leaf_paths())
        by_slug: dict[str, list[str]] = {}
        for path in self.leaves:
            by_slug.setdefault(path.rsplit("/", 1)[-1], []).append(path)
        self.by_slug = by_slug

    def resolve(self, value: Any) -> tuple[str | None, str]:
        """(leaf path, "") or (None, reason)."""
        if not isinstance(value, str) or not value.strip():
            return None, "missing"
        text = value.strip().strip("/").lower()
        if text in self.leaves:
            return text, ""
        matches = self.by_slug.get(text, [])
        if len(matches) == 1:
            return matches[0], ""
        if len(matches) > 1:
            return None, f"slug {text!r} is ambiguous: {', '.join(sorted(matches))}"
        return None, f"unknown category {value.strip()[:80]!r} (not a leaf of the policy version)"


def external_id_of(value: Any, log: ProblemLog, line: int) -> str | None:
    """A cleaned ``external_id`` (numbers accepted), ``None`` when absent or bad (logged)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        log.add(line, "external_id", "must be a string or an integer")
        return None
    text = str(value).strip()
    if len(text) > MAX_EXTERNAL_ID_CHARS:
        log.add(line, "external_id", f"longer than {MAX_EXTERNAL_ID_CHARS} characters")
        return None
    if "\x00" in text:
        log.add(line, "external_id", NUL_REASON)
        return None
    return text or None


# Accepted category and intent spellings remembered per import (a bound on its memory).
KNOWN_VALUES_MAX = 10_000


def has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL cannot store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


class RowChecker:
    """Checks the category and intent of each row against the campaign's policy version, and
    remembers the spellings it has accepted so repeated values cost one dictionary lookup."""

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
        # Values already accepted, as given in the file -> the canonical value (bounded).
        self.known_categories: dict[str, str] = {}
        self.known_intents: dict[str, str] = {}
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
        elif len(self.known_categories) < KNOWN_VALUES_MAX:
            self.known_categories[value] = path
        return path

    def intent(self, value: Any, line: int) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if self.default_intent is None:
                self.log.add(line, "intent", "missing, and the import has no default intent")
            return self.default_intent
        intent = check_intent(value)
        if intent is None:
            self.log.add(
                line, "intent", f"unknown intent {str(value)[:40]!r} ({', '.join(INTENTS)})"
            )
        elif len(self.known_intents) < KNOWN_VALUES_MAX:
            self.known_intents[value] = intent
        return intent
