"""Data files: one per (category, split), and one per split for every category together,
hashed as they are written.

Rows arrive ordered by category, so only the current category's files (at most one per split)
are open at a time, besides the combined file of each split (``<split>.<extension>`` at the
export's root, most trainers' one file per split), which stays open for the whole export. Each
file's SHA-256 and size are computed while writing, never by reading the file back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from presentation.csvsafe import neutralise_cell

_SEGMENT = re.compile(r"[^a-z0-9_-]+")
DATA_FOLDER = "data"
# Beside a data file of a format that admits no extra key: line n is the metadata of row n.
METADATA_EXTENSION = "metadata.jsonl"
# The key (or CSV column) naming a row's category in the combined files.
CATEGORY_KEY = "category"


def safe_category_path(category: str) -> str:
    """A category path as folders: lower-case slug segments only, so no path can escape."""
    segments = [_SEGMENT.sub("-", part.strip().lower()).strip("-") for part in category.split("/")]
    segments = [segment for segment in segments if segment and segment not in {".", ".."}]
    return "/".join(segments) or "uncategorised"


@dataclass
class FileRecord:
    path: str
    category: str
    split: str
    rows: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "category": self.category,
            "split": self.split,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


class _OpenFile:
    def __init__(self, root: Path, relative: str, category: str, split: str) -> None:
        self.relative = relative
        self.category = category
        self.split = split
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": a second writer of the same file is a bug — fail rather than overwrite rows.
        self.handle: IO[bytes] = open(path, "xb", buffering=1024 * 1024)  # noqa: SIM115
        self.hash = hashlib.sha256()
        self.rows = 0
        self.bytes = 0

    def write(self, data: bytes, *, is_row: bool = True) -> None:
        self.handle.write(data)
        self.hash.update(data)
        self.bytes += len(data)
        if is_row:
            self.rows += 1

    def close(self) -> FileRecord:
        self.handle.close()
        return FileRecord(
            self.relative, self.category, self.split, self.rows, self.bytes, self.hash.hexdigest()
        )


class DataWriter:
    """Writes rows to ``data/<category path>/<split>.<extension>`` under ``root``, and each
    row again to the combined file of its split, ``<split>.<extension>``.

    A combined row names its category: the row as written per category when it already has
    a ``category`` key (or column), else with one added. A format whose rows admit no extra
    key (``metadata_beside``) keeps its rows as they are and gets the category, with the
    row's metadata if any, in ``<split>.metadata.jsonl`` beside the combined file (line n
    describes row n), as the per-category files do for their metadata.
    """

    def __init__(
        self,
        root: Path,
        *,
        extension: str,
        csv_header: Sequence[str] | None = None,
        on_closed: Callable[[str], None] | None = None,
        metadata_beside: bool = False,
    ) -> None:
        self.root = root
        self.on_closed = on_closed  # told each file's relative path once it is complete
        self.extension = extension
        self.csv_header = list(csv_header) if csv_header else None
        self.metadata_beside = metadata_beside
        self.files: list[FileRecord] = []
        self.combined_files: list[FileRecord] = []
        self._combined: dict[str, _OpenFile] = {}
        # The row just written per category, waiting for its metadata line (metadata_beside).
        self._pending_category: dict[str, str] = {}
        self._category: str | None = None
        self._open: dict[str, _OpenFile] = {}
        self._seen_folders: set[str] = set()
        self._csv_buffer = io.StringIO()
        self._csv = csv.writer(self._csv_buffer, lineterminator="\n")
        self.rows_written = 0

    def _file(self, category: str, split: str, *, metadata: bool = False) -> _OpenFile:
        if category != self._category:
            self._close_open()
            self._category = category
        key = f"{split}.metadata" if metadata else split
        handle = self._open.get(key)
        if handle is None:
            folder = safe_category_path(category)
            extension = METADATA_EXTENSION if metadata else self.extension
            relative = f"{DATA_FOLDER}/{folder}/{split}.{extension}"
            handle = _OpenFile(self.root, relative, category, split)
            if self.csv_header is not None and not metadata:
                handle.write(self._csv_line(self.csv_header), is_row=False)
            self._open[key] = handle
        return handle

    def _csv_line(self, cells: Sequence[Any]) -> bytes:
        self._csv_buffer.seek(0)
        self._csv_buffer.truncate()
        self._csv.writerow(["" if cell is None else neutralise_cell(cell) for cell in cells])
        return self._csv_buffer.getvalue().encode()

    def _combined_file(self, split: str, *, metadata: bool = False) -> _OpenFile:
        key = f"{split}.metadata" if metadata else split
        handle = self._combined.get(key)
        if handle is None:
            extension = METADATA_EXTENSION if metadata else self.extension
            handle = _OpenFile(self.root, f"{split}.{extension}", "", split)
            if self.csv_header is not None and not metadata:
                header = self.csv_header
                if CATEGORY_KEY not in header:
                    header = [CATEGORY_KEY, *header]
                handle.write(self._csv_line(header), is_row=False)
            self._combined[key] = handle
        return handle

    def _flush_pending_category(self, split: str) -> None:
        """The metadata line of a combined row whose format wrote no metadata of its own."""
        category = self._pending_category.pop(split, None)
        if category is not None:
            self._combined_file(split, metadata=True).write(_json_line({CATEGORY_KEY: category}))

    def write_json(self, category: str, split: str, row: dict[str, Any]) -> None:
        """One JSON line, keys sorted so the bytes never depend on how the dict was built."""
        line = _json_line(row)
        self._file(category, split).write(line)
        if self.metadata_beside:
            self._flush_pending_category(split)
            self._combined_file(split).write(line)
            self._pending_category[split] = category
        elif CATEGORY_KEY in row:
            self._combined_file(split).write(line)
        else:
            self._combined_file(split).write(_json_line({**row, CATEGORY_KEY: category}))
        self.rows_written += 1

    def write_metadata(self, category: str, split: str, metadata: dict[str, Any]) -> None:
        """The metadata line of the row just written to the data file of (category, split)."""
        self._file(category, split, metadata=True).write(_json_line(metadata))
        if self.metadata_beside and self._pending_category.pop(split, None) is not None:
            self._combined_file(split, metadata=True).write(
                _json_line({**metadata, CATEGORY_KEY: category})
            )

    def write_csv(self, category: str, split: str, cells: Sequence[Any]) -> None:
        """One CSV record; text cells a spreadsheet would evaluate are neutralised."""
        self._file(category, split).write(self._csv_line(cells))
        header = self.csv_header or []
        combined = cells if CATEGORY_KEY in header else [category, *cells]
        self._combined_file(split).write(self._csv_line(combined))
        self.rows_written += 1

    def _close_open(self) -> None:
        for split in sorted(self._open):
            record = self._open[split].close()
            self.files.append(record)
            if self.on_closed is not None:
                self.on_closed(record.path)
        self._open = {}

    def close(self) -> list[FileRecord]:
        """Close every file; the per-category records come back sorted by path (the combined
        ones are in :attr:`combined_files`)."""
        self._close_open()
        for split in list(self._pending_category):
            self._flush_pending_category(split)
        for key in sorted(self._combined):
            record = self._combined[key].close()
            self.combined_files.append(record)
            if self.on_closed is not None:
                self.on_closed(record.path)
        self._combined = {}
        self.files.sort(key=lambda record: record.path)
        self.combined_files.sort(key=lambda record: record.path)
        return self.files

    def abort(self) -> None:
        for handle in [*self._open.values(), *self._combined.values()]:
            handle.handle.close()
        self._open = {}
        self._combined = {}


def _json_line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
