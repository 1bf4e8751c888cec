"""Preference pairs for the report: from an export folder (its manifest and data files), or
collected from the export pipeline's rows for a selection that has no files yet."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from ..spec import PREFERENCE_FORMATS
from ..writer import METADATA_EXTENSION, FileRecord
from .model import PreferencePair, report_or_needs

MANIFEST = "manifest.json"


class LearnabilityInputError(ValueError):
    """The folder is not a preference export the report can read; says where and why."""


def _text(messages: Any) -> str:
    """The text of a list of chat messages (the prompt, or a one-message completion)."""
    if not isinstance(messages, list):
        raise ValueError("expected a list of messages")
    parts = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ValueError("a message without text content")
        parts.append(message["content"])
    return "\n".join(parts)


def pair_from_row(
    export_format: str,
    row: Any,
    *,
    split: str,
    category: str,
    file: str | None = None,
    line: int | None = None,
) -> PreferencePair:
    """One data row of a preference format as a pair. Raises ValueError naming the field."""
    if not isinstance(row, dict):
        raise ValueError("the row is not a JSON object")
    if export_format == "trl-preference":
        fields = ("prompt", "chosen", "rejected")
    else:
        fields = ("input", "preferred_output", "non_preferred_output")
    texts = []
    for name in fields:
        value = row.get(name)
        if name == "input":
            value = value.get("messages") if isinstance(value, dict) else None
        try:
            texts.append(_text(value))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from error
    pair_id = row.get("pair_id")
    return PreferencePair(
        split=split,
        category=str(row.get("category") or category),
        prompt=texts[0],
        chosen=texts[1],
        rejected=texts[2],
        pair_id=str(pair_id) if pair_id is not None else None,
        file=file,
        line=line,
    )


def manifest_folder(folder: Path) -> Path:
    """The folder holding ``manifest.json``: ``folder`` itself, or the one folder inside it
    (an archive unpacks into ``graylab-export-<id>/``)."""
    if (folder / MANIFEST).is_file():
        return folder
    inside = [child for child in folder.iterdir() if (child / MANIFEST).is_file()]
    if len(inside) == 1:
        return inside[0]
    if not folder.is_dir():
        raise LearnabilityInputError(f"{folder}: not a folder")
    raise LearnabilityInputError(
        f"{folder}: no {MANIFEST} in it"
        + (" (more than one export inside)" if inside else " nor in one folder inside it")
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise LearnabilityInputError(f"{path}: not JSON ({error})") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise LearnabilityInputError(f"{path}: not an export manifest (no files list)")
    return manifest


def pairs_from_folder(folder: Path) -> tuple[dict[str, Any], list[PreferencePair]]:
    """The manifest and every pair of an export folder, each data file checked against the
    manifest (its SHA-256 and row count) before a pair of it is used."""
    root = manifest_folder(folder)
    manifest = read_manifest(root)
    export_format = manifest.get("format")
    if export_format not in PREFERENCE_FORMATS:
        raise LearnabilityInputError(
            f"{root / MANIFEST}: format {export_format!r} is not a preference format "
            f"(learnability reads {', '.join(sorted(PREFERENCE_FORMATS))})"
        )
    pairs: list[PreferencePair] = []
    for record in manifest["files"]:
        path_text = str(record.get("path", ""))
        if path_text.endswith(METADATA_EXTENSION):
            continue
        path = (root / path_text).resolve()
        if root.resolve() not in path.parents:
            raise LearnabilityInputError(f"{path_text}: outside the export folder")
        if not path.is_file():
            raise LearnabilityInputError(f"{path_text}: listed in the manifest but missing")
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != record.get("sha256"):
            raise LearnabilityInputError(f"{path_text}: its SHA-256 differs from the manifest's")
        lines = content.splitlines()
        if len(lines) != record.get("rows"):
            raise LearnabilityInputError(
                f"{path_text}: {len(lines)} rows, the manifest says {record.get('rows')}"
            )
        for number, raw in enumerate(lines, start=1):
            try:
                row = orjson.loads(raw)
                pairs.append(
                    pair_from_row(
                        export_format,
                        row,
                        split=str(record["split"]),
                        category=str(record["category"]),
                        file=path_text,
                        line=number,
                    )
                )
            except (orjson.JSONDecodeError, ValueError) as error:
                raise LearnabilityInputError(f"{path_text} line {number}: {error}") from error
    return manifest, pairs


def report_for_folder(folder: Path) -> tuple[dict[str, Any], list[PreferencePair]]:
    """The report of an export folder (or an unpacked archive), seeded by the export's seed."""
    manifest, pairs = pairs_from_folder(folder)
    return report_or_needs(pairs, seed=int(manifest.get("seed", 0))), pairs


class PairCollector:
    """A pipeline writer that keeps ``trl-preference`` rows as pairs instead of writing files
    (the estimate of a selection that has no export yet)."""

    def __init__(self) -> None:
        self.rows_written = 0
        self.pairs: list[PreferencePair] = []

    def write_json(self, category: str, split: str, row: dict[str, Any]) -> None:
        self.rows_written += 1
        self.pairs.append(pair_from_row("trl-preference", row, split=split, category=category))

    def write_metadata(self, category: str, split: str, metadata: dict[str, Any]) -> None:
        return None

    def write_csv(self, category: str, split: str, cells: Any) -> None:
        raise ValueError("learnability reads preference rows only")

    def close(self) -> list[FileRecord]:
        return []

    def abort(self) -> None:
        self.pairs = []
