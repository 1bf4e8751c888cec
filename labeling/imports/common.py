"""What every importer shares: streamed readers, problems, normalisation, category lookup.

Readers never hold the whole file: they yield one record at a time with its line number, and a
record that cannot be read becomes a :class:`Problem` instead of stopping the read, so the user
gets every bad line in one report. Memory stays bounded whatever the file: the bytes that come
out of a file are counted per chunk (:func:`open_binary`), a line is read at most
``IMPORT_MAX_LINE_BYTES`` at a time (:func:`iter_raw_lines`), and problems are counted by kind
with only the first ones kept in memory (:class:`ProblemLog`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import logging
import re
import tempfile
import unicodedata
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings

from policy.models import PolicyVersion
from policy.rubric import INTENTS
from presentation.csvsafe import neutralise_cell

from ..models import Campaign

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000
MAX_EXTERNAL_ID_CHARS = 200
ROLES = ("system", "user", "assistant")
GZIP_MAGIC = b"\x1f\x8b"
NUL_REASON = "contains a NUL character (\\u0000), which cannot be stored"
NOT_GZIP_REASON = (
    "not gzip: the file's name ends in .gz but its content is not gzip-compressed (a gzip file "
    "starts with the bytes 1f 8b); compress it with gzip, or remove .gz from its name"
)
# Bytes asked of the underlying file (or the decompressor) at a time: the expanded-size check
# runs once per chunk, not once per line.
READ_CHUNK_BYTES = 1 << 18

# Problems kept in memory per import (the first found); past this every problem also goes to a
# CSV file, the full list (see ProblemLog).
PROBLEMS_KEPT = 1000
# Rows of the full list at most (about 300 MB): a file of tiny bad lines must not become a far
# larger file of problems. Past it, problems are still counted and grouped.
FULL_LIST_MAX_ROWS = 5_000_000
# Kinds of problem counted one by one; problems of any further kind are counted together.
PROBLEM_GROUPS_KEPT = 100
# Kinds shown on the import page and in the API answer: at most a screenful.
PROBLEM_GROUPS_SHOWN = 20
# Line numbers remembered per kind of problem.
PROBLEM_GROUP_LINES = 5
# Reasons whose group key is remembered (a cache: most reasons repeat word for word).
_PATTERNS_KEPT = 1000

# Other CSV readers in the process keep the field size this module has always given them;
# iter_csv applies the configured line limit while it reads.
csv.field_size_limit(1_000_000)


def size_text(count: int) -> str:
    """A byte count for people: ``209715200`` → ``"200 MiB (209,715,200 bytes)"``."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= size:
            return f"{count / size:.4g} {unit} ({count:,} bytes)"
    return f"{count:,} bytes"


class TooLargeForRequest(Exception):
    """The file, once decompressed, is larger than what a web request imports itself
    (``IMPORT_JOB_THRESHOLD_BYTES``): it is imported by a job instead.

    Raised as soon as the bound is passed, like :class:`ImportTooLarge`, so a request never
    reads more than the bound; the import's transaction is rolled back and nothing is kept.
    """


class ImportTooLarge(Exception):
    """A file over one of the import's size limits (the web answers 413).

    Raised as soon as the limit is passed: the rest of the file is never read, the import's
    transaction is rolled back and nothing is kept. ``setting`` names the variable that sets
    ``limit``.
    """

    def __init__(self, what: str, *, limit: int, setting: str) -> None:
        self.limit = limit
        self.setting = setting
        super().__init__(
            f"{what} is larger than the limit of {size_text(limit)}, set by {setting}; "
            "nothing was imported."
        )


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


# What varies between two problems of one kind: quoted values, and positions in a line.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_POSITION = re.compile(r"\b(line|column|char|byte|turn) \d+")


def reason_pattern(reason: str) -> str:
    """``reason`` with the parts that vary from line to line masked (quoted values become
    ``'…'``, positions ``N``), so that one kind of problem makes one group."""
    return _POSITION.sub(r"\1 N", _QUOTED.sub("'…'", reason))


# What to do about each kind of problem: (field, or None for any; words in the reason; fix),
# the first that matches wins.
_FIXES: tuple[tuple[str | None, str, str], ...] = (
    ("category", "no default category", "pass a default category or a mapping"),
    ("category", "ambiguous", "give the category's full path (area/category) instead of its slug"),
    (
        "category",
        "unknown category",
        "use a leaf path or slug of the campaign's policy version, or pass a mapping onto it",
    ),
    ("intent", "no default intent", "pass a default intent or a mapping"),
    ("intent", "unknown intent", f"use one of {', '.join(INTENTS)}"),
    ("default_category", "", "give a leaf path or slug of the campaign's policy version"),
    ("mapping", "", "fix the mapping (see the built-in one for its shape)"),
    ("format", "", "choose the format on the form"),
    ("prompt", "either prompt or messages", "keep one of the two"),
    ("prompt", "missing", "give each row its prompt text (or messages)"),
    ("messages", "", "give a list of {role, content} turns that ends with a user turn"),
    ("external_id", "duplicate", "give each row its own external_id, or leave them out"),
    ("", "malformed JSON", "write one complete JSON object per line (is it CSV? choose csv)"),
    ("", "malformed CSV", "quote cells that hold commas, quotes or line breaks"),
    ("", "columns, found", "give every row as many cells as the header has columns"),
    ("", "not UTF-8", "save the file as UTF-8"),
    ("", "NUL byte", "upload the text file itself (this looks binary)"),
    ("", "not gzip", "compress the file with gzip, or remove .gz from its name"),
    ("", "unknown field", "remove those fields, or move them under metadata"),
    ("", "line limit", "split the line, or raise IMPORT_MAX_LINE_BYTES"),
    ("", "not an XSTest", "choose the format that matches the file, or fix its header"),
    ("", "duplicate column", "give each column its own name"),
    (None, "longer than", "shorten the text"),
    (None, "NUL character", "remove the NUL characters (\\u0000)"),
)


def problem_fix(field_name: str, reason: str) -> str:
    """What the uploader can do about a kind of problem ("" when there is no general fix)."""
    for fix_field, words, fix in _FIXES:
        if (fix_field is None or fix_field == field_name) and words in reason:
            return fix
    return ""


@dataclass(slots=True)
class ProblemGroup:
    """One kind of problem: a field and a reason, how many lines have it, the first of them.

    ``reason`` is the reason itself while every line gives the same one, else its pattern
    (see :func:`reason_pattern`).
    """

    field: str
    reason: str
    count: int = 0
    lines: list[int] = dataclasses.field(default_factory=list)

    @property
    def first_lines(self) -> list[int]:
        return sorted(self.lines)

    @property
    def fix(self) -> str:
        """What to do about it (see :func:`problem_fix`)."""
        return problem_fix(self.field, self.reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "reason": self.reason,
            "count": self.count,
            "first_lines": self.first_lines,
            "fix": self.fix,
        }


class ProblemGroups:
    """Counts problems by kind (field, reason pattern) in bounded memory."""

    def __init__(self) -> None:
        self.by_kind: dict[tuple[str, str], ProblemGroup] = {}
        # Problems of kinds beyond PROBLEM_GROUPS_KEPT, counted together.
        self.ungrouped = 0
        self._patterns: dict[str, str] = {}

    def add(self, line: int, field_name: str, reason: str) -> None:
        pattern = self._patterns.get(reason)
        if pattern is None:
            pattern = reason_pattern(reason)
            if len(self._patterns) < _PATTERNS_KEPT:
                self._patterns[reason] = pattern
        group = self.by_kind.get((field_name, pattern))
        if group is None:
            if len(self.by_kind) >= PROBLEM_GROUPS_KEPT:
                self.ungrouped += 1
                return
            group = self.by_kind[(field_name, pattern)] = ProblemGroup(field_name, reason)
        elif group.reason != reason:
            group.reason = pattern
        group.count += 1
        if len(group.lines) < PROBLEM_GROUP_LINES:
            group.lines.append(line)

    def largest(self, limit: int = PROBLEM_GROUPS_SHOWN) -> list[ProblemGroup]:
        """The ``limit`` largest groups, the largest first (then by their first line)."""
        groups = sorted(self.by_kind.values(), key=lambda g: (-g.count, min(g.lines, default=0)))
        return groups[:limit]


def _csv_row(problem: Problem) -> tuple[int, str, str]:
    """A problem as a CSV row, its reason kept from being read as a spreadsheet formula."""
    return problem.line, problem.field, neutralise_cell(problem.reason)


PROBLEMS_CSV_HEADER = ("line", "field", "reason")


class ImportFailed(Exception):
    """Raised when any line is bad: the import's transaction is rolled back, nothing is kept.

    ``problems`` holds the first problems found (every one when there are few), sorted by line;
    ``total`` counts them all and ``groups`` by kind. When they did not all fit in
    ``problems``, ``full_list`` is a CSV file (line, field, reason) holding every one, which the
    catcher owns: it keeps it (``problem_files.problem_file_store``) or calls :meth:`discard`.
    """

    def __init__(
        self,
        problems: list[Problem],
        *,
        total: int | None = None,
        groups: ProblemGroups | None = None,
        full_list: Path | None = None,
    ) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        self.total = len(problems) if total is None else total
        if groups is None:
            groups = ProblemGroups()
            for problem in problems:
                groups.add(problem.line, problem.field, problem.reason)
        self.groups = groups
        self.full_list = full_list
        super().__init__(f"{self.total} bad line(s); nothing was imported")

    @property
    def shown_groups(self) -> list[ProblemGroup]:
        """The largest kinds of problem, at most a screenful."""
        return self.groups.largest(PROBLEM_GROUPS_SHOWN)

    @property
    def not_shown(self) -> int:
        """Problems outside :attr:`shown_groups`."""
        return self.total - sum(group.count for group in self.shown_groups)

    def all_problems(self) -> Iterator[Problem]:
        """Every problem, streamed from the full list when there is one (else the ones kept,
        and a last line counting any others)."""
        if self.full_list is None:
            yield from self.problems
            if self.total > len(self.problems):
                unlisted = self.total - len(self.problems)
                yield Problem(0, "", f"and {unlisted} more problem(s), not listed")
            return
        with self.full_list.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            next(rows, None)
            for line, field_name, reason in rows:
                yield Problem(int(line), field_name, reason)

    def write_csv(self, handle: IO[str]) -> None:
        """Write :meth:`all_problems` as CSV (line, field, reason)."""
        writer = csv.writer(handle)
        writer.writerow(PROBLEMS_CSV_HEADER)
        writer.writerows(_csv_row(problem) for problem in self.all_problems())

    def discard(self) -> None:
        """Remove the full list, if any (for callers that do not keep it)."""
        if self.full_list is not None:
            self.full_list.unlink(missing_ok=True)
            self.full_list = None


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
    file_format: str = ""  # as given, or as detected from the file

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.file_format,
            "lines": self.lines,
            "created": self.created,
            "duplicates": self.duplicates,
            "prompts_created": self.prompts_created,
            "candidates_created": self.candidates_created,
            "candidate_duplicates": self.candidate_duplicates,
            "pairs_created": self.pairs_created,
            "reported": [p.as_dict() for p in self.reported],
        }


class ImportProgress:
    """How far a running import has got: lines read, rows ready to import, problems so far.

    The import hands over its problem log and report as it starts (:meth:`follow`), and a job's
    reporter thread reads the counts while the file streams by: plain integer reads, so the
    import pays nothing for being watched.
    """

    def __init__(self) -> None:
        self._log: ProblemLog | None = None
        self._report: ImportReport | None = None

    def follow(self, log: ProblemLog, report: ImportReport) -> None:
        self._log, self._report = log, report

    @property
    def lines_read(self) -> int:
        return self._log.lines_read if self._log is not None else 0

    @property
    def imported(self) -> int:
        """Rows written so far inside the import's transaction (kept only if every line is
        good)."""
        return self._report.created if self._report is not None else 0

    @property
    def problems(self) -> int:
        return self._log.count if self._log is not None else 0


class ProblemLog:
    """Collects the problems of one import as the file streams by, in bounded memory, and
    counts how far the file has been read (``lines_read``, the progress a job reports).

    Keeps the first ``PROBLEMS_KEPT`` problems and counts all of them by kind
    (:class:`ProblemGroups`). Past ``PROBLEMS_KEPT``, every problem is also written to a CSV
    file under ``settings.IMPORT_PROBLEMS_DIR`` as it comes, the full list that
    :meth:`raise_if_any` hands to :class:`ImportFailed`. An import that does not raise that
    error calls :meth:`discard` (it is safe to call either way).
    """

    def __init__(self) -> None:
        self.count = 0
        self.lines_read = 0
        self.kept: list[Problem] = []
        self.groups = ProblemGroups()
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._path: Path | None = None
        self._full_list_failed = False

    def add(self, line: int, field_name: str, reason: str) -> None:
        self.count += 1
        problem = Problem(line, field_name, reason)
        if len(self.kept) < PROBLEMS_KEPT:
            self.kept.append(problem)
        elif self.count <= FULL_LIST_MAX_ROWS and not self._full_list_failed:
            self._write(problem)
        self.groups.add(line, field_name, reason)

    def _write(self, problem: Problem) -> None:
        try:
            if self._writer is None:
                self._open_full_list()
            self._writer.writerow(_csv_row(problem))
        except OSError:
            # A full disk costs the download, not the report: counts and groups go on.
            logger.warning("cannot write the full problem list of an import", exc_info=True)
            self.discard()
            self._full_list_failed = True

    def _open_full_list(self) -> None:
        folder = Path(settings.IMPORT_PROBLEMS_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        # A dot name: never served (tokens have none), swept like the others when left behind.
        self._file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by raise_if_any/discard
            "w", newline="", encoding="utf-8", dir=folder, prefix=".partial-", delete=False
        )
        self._path = Path(self._file.name)
        self._writer = csv.writer(self._file)
        self._writer.writerow(PROBLEMS_CSV_HEADER)
        self._writer.writerows(_csv_row(problem) for problem in self.kept)

    def raise_if_any(self) -> None:
        """Raise :class:`ImportFailed` with what was collected, if anything was."""
        if not self.count:
            return
        full_list = None
        if self._file is not None:
            try:
                if self.count > FULL_LIST_MAX_ROWS:
                    unlisted = self.count - FULL_LIST_MAX_ROWS
                    note = f"and {unlisted} more problem(s), not listed: the list stops at"
                    self._writer.writerow((0, "", f"{note} {FULL_LIST_MAX_ROWS}"))
                self._file.close()
            except OSError:
                logger.warning("cannot write the full problem list of an import", exc_info=True)
                self.discard()
            else:
                full_list, self._file, self._writer, self._path = self._path, None, None, None
        raise ImportFailed(self.kept, total=self.count, groups=self.groups, full_list=full_list)

    def discard(self) -> None:
        """Close and remove the full list if this log still owns one."""
        file, path = self._file, self._path
        self._file, self._writer, self._path = None, None, None
        # Called in ``finally`` blocks: an error here must not hide the one being raised.
        with contextlib.suppress(OSError):
            if file is not None:
                file.close()
        with contextlib.suppress(OSError):
            if path is not None:
                path.unlink(missing_ok=True)


class _CountingReader(io.RawIOBase):
    """Reads from ``inner`` and stops with :class:`ImportTooLarge` once more than ``limit``
    bytes came out of it: one check per chunk, so the limit costs nothing per line.

    For a gzip stream, decompression errors become one readable ``OSError``.
    """

    def __init__(
        self,
        inner: Any,
        *,
        limit: int,
        request_limit: int | None,
        compressed: bool,
        closing: tuple[Any, ...],
    ) -> None:
        super().__init__()
        # One step of the decompressor at a time where the stream offers it (``readinto1``),
        # so the lines before a damaged part of a gzip file still come out and are counted.
        self._read = getattr(inner, "readinto1", None) or inner.readinto
        # A request's own bound, when it is the tighter one, stops the read first.
        if request_limit is not None and request_limit >= limit:
            request_limit = None
        self._request_limit = request_limit
        self._left = limit if request_limit is None else request_limit
        self._limit = limit
        self._compressed = compressed
        self._closing = closing

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # The views are released on the way out, raising or not: ``buffer`` belongs to the
        # BufferedReader above and must not be reachable after this call (from a traceback).
        # One byte past the limit is asked for, so that a file of exactly the limit passes.
        with (
            memoryview(buffer) as whole,
            whole.cast("B") as view,
            view[: self._left + 1] as target,
        ):
            try:
                count = self._read(target) or 0
            except (OSError, EOFError, zlib.error) as error:
                if not self._compressed:
                    raise
                raise OSError(f"not gzip, or a damaged gzip file: {error}") from error
        self._left -= count
        if self._left < 0:
            if self._request_limit is not None:
                raise TooLargeForRequest()
            what = "The file, once decompressed," if self._compressed else "The file"
            raise ImportTooLarge(what, limit=self._limit, setting="IMPORT_MAX_EXPANDED_BYTES")
        return count

    def close(self) -> None:
        if not self.closed:
            for stream in self._closing:
                stream.close()
        super().close()


def open_binary(
    source: str | Path | IO[bytes], *, name: str = "", request_limit: int | None = None
) -> IO[bytes]:
    """A binary stream of the file's bytes, gunzipped when it starts with the gzip signature.

    The stream raises :class:`ImportTooLarge` as soon as more than
    ``settings.IMPORT_MAX_EXPANDED_BYTES`` came out of it (counted per chunk as they are read or
    decompressed), so a small file that decompresses without end stops at the limit and its
    rest is never read. With ``request_limit`` under that limit, it raises
    :class:`TooLargeForRequest` past ``request_limit`` bytes instead. A file whose ``name`` (a
    path's own name by default) ends in ``.gz`` but that is not gzip is refused with
    :class:`ImportFailed`. Closing the stream closes a file opened here, never a stream passed
    in.
    """
    owned = isinstance(source, str | Path)
    if owned and not name:
        name = str(source)
    stream: Any = (
        open(source, "rb", buffering=0)  # noqa: SIM115 - closed with the returned stream
        if isinstance(source, str | Path)
        else source
    )
    try:
        if getattr(stream, "seekable", lambda: False)():
            head = stream.read(2)
            stream.seek(0)
        else:
            stream = io.BufferedReader(stream)
            head = stream.peek(2)[:2]
        compressed = head == GZIP_MAGIC
        if not compressed and name.lower().endswith(".gz"):
            raise ImportFailed([Problem(0, "", NOT_GZIP_REASON)])
    except BaseException:
        if owned:
            stream.close()
        raise
    inner: Any = gzip.GzipFile(fileobj=stream, mode="rb") if compressed else stream
    closing = (inner, stream) if owned else ((inner,) if compressed else ())
    counted = _CountingReader(
        inner,
        limit=settings.IMPORT_MAX_EXPANDED_BYTES,
        request_limit=request_limit,
        compressed=compressed,
        closing=closing,
    )
    return io.BufferedReader(counted, buffer_size=READ_CHUNK_BYTES)


# Bytes of the (decompressed) file looked at to tell its format.
SNIFF_BYTES = 1 << 16
_JSON_NAMES = (".jsonl", ".ndjson", ".json")


def detect_format(stream: IO[bytes], filename: str, formats: tuple[str, ...]) -> str:
    """The format of an import whose uploader gave none, one of ``formats``.

    The file's name says CSV (``.csv``) or JSON lines (``.jsonl``, ``.ndjson``, ``.json``),
    ``.gz`` aside; a name that says neither leaves it to the first line of the content (an
    object: JSON lines; anything else: CSV). Then the content tells the preset, read without
    consuming it: JSON lines are ``hh-rlhf`` when their first object holds ``chosen`` and
    ``rejected`` transcripts, else ``jsonl``; a CSV file is XSTest's when its header has
    XSTest's columns (``xstest`` prompts, or ``xstest-completions`` with a ``completion``),
    else ``csv``. Raises :class:`ImportFailed` (field ``format``) when it cannot tell.
    """
    peek = getattr(stream, "peek", None)
    head = peek(SNIFF_BYTES)[:SNIFF_BYTES] if peek is not None else b""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    first_line = head.lstrip().split(b"\n", 1)[0].strip()
    name = filename.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        family = "csv"
    elif name.endswith(_JSON_NAMES) or first_line.startswith(b"{"):
        family = "jsonl"
    elif first_line.startswith(b"["):
        raise ImportFailed(
            [Problem(0, "format", "a JSON array, not JSON lines: write one JSON object per line")]
        )
    elif first_line:
        family = "csv"
    else:
        raise ImportFailed([Problem(0, "format", "the file is empty: there is nothing to import")])
    if family == "jsonl":
        try:
            first = orjson.loads(first_line) if first_line else None
        except orjson.JSONDecodeError:
            first = None
        hh = isinstance(first, dict) and {"chosen", "rejected"} <= set(first)
        if hh and "hh-rlhf" in formats:
            return "hh-rlhf"
        if "jsonl" in formats:
            return "jsonl"
    else:
        try:
            header = {cell.strip() for cell in next(csv.reader([first_line.decode("utf-8")]))}
        except (UnicodeDecodeError, csv.Error, StopIteration):
            header = set()
        xstest = {"id", "prompt", "type"} <= header
        if xstest and "completion" in header and "xstest-completions" in formats:
            return "xstest-completions"
        if xstest and "label" in header and "xstest" in formats:
            return "xstest"
        if "csv" in formats:
            return "csv"
    raise ImportFailed(
        [
            Problem(
                0,
                "format",
                f"cannot tell the format of {Path(filename).name[:80]!r}: "
                f"choose one of {', '.join(formats)}",
            )
        ]
    )


def iter_raw_lines(stream: IO[bytes], log: ProblemLog) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each physical line; ``None`` for a line too long to keep.

    Reads at most ``settings.IMPORT_MAX_LINE_BYTES`` at a time, so one enormous line cannot
    exhaust memory; such a line is reported (naming the limit) and skipped. A UTF-8 byte order
    mark at the start of the file is dropped.
    """
    limit = settings.IMPORT_MAX_LINE_BYTES
    too_long = f"longer than the line limit of {size_text(limit)}, set by IMPORT_MAX_LINE_BYTES"
    number = 0
    readline = stream.readline
    while True:
        try:
            raw = readline(limit + 1)
        except (OSError, EOFError, zlib.error) as error:  # a truncated or corrupt gzip stream
            log.add(number + 1, "", f"the file cannot be read: {error}")
            return
        if not raw:
            return
        number += 1
        log.lines_read = number
        if len(raw) > limit and not raw.endswith(b"\n"):
            # Skip the rest of this huge line without keeping it.
            while True:
                rest = readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
            log.add(number, "", too_long)
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
    """(first line number, row as dict, header) for each CSV record; bad records go to ``log``.

    A field is bounded like a line (``IMPORT_MAX_LINE_BYTES``), as a quoted field may span
    lines; the csv module's limit is process-wide, so it is set for the read and put back after.
    """
    previous_limit = csv.field_size_limit(settings.IMPORT_MAX_LINE_BYTES)
    try:
        yield from _csv_records(stream, log)
    finally:
        csv.field_size_limit(previous_limit)


def _csv_records(
    stream: IO[bytes], log: ProblemLog
) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    # Unreadable lines not yet behind the current record, in order: a file of bad lines costs
    # one look per record, not one per bad line so far.
    bad_lines: deque[int] = deque()
    state = {"line": 0}

    def text_lines() -> Iterator[str]:
        for number, text in iter_lines(stream, log):
            state["line"] = number
            if text is None:
                bad_lines.append(number)
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
        while bad_lines and bad_lines[0] < start:
            bad_lines.popleft()
        if bad_lines and bad_lines[0] <= end:
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
