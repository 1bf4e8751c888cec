"""One file per split beside the per-category layout: every category's rows together, each
naming its category, listed in the manifest with counts and hashes."""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User

from exports.services import export_folder
from exports.writer import DataWriter

from .test_export_job import many_prompts

SPLITS = {"train": 0.5, "validation": 0.25, "test": 0.25}


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _check_listing(folder: Path, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        data = (folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]


@pytest.mark.django_db
def test_combined_files_hold_every_category_with_its_name(
    hand: dict[str, Any], personas: dict[str, User], run_export: Any
) -> None:
    many_prompts(hand, personas)
    export = run_export(format="trl-kto", seed=3, split_ratios=SPLITS)
    assert export.status == "completed", export.error
    folder = export_folder(export)
    manifest = export.manifest
    combined = manifest["combined_files"]
    assert [entry["path"] for entry in combined] == sorted(
        f"{split}.jsonl" for split, rows in manifest["counts"]["rows_by_split"].items() if rows
    )
    _check_listing(folder, combined)
    for entry in combined:
        split = entry["split"]
        assert entry["rows"] == manifest["counts"]["rows_by_split"][split]
        rows = [orjson.loads(line) for line in _lines(folder / entry["path"])]
        assert len(rows) == entry["rows"]
        # The same rows as the split's per-category files, in their order, each naming its
        # category (KTO rows have no category key of their own).
        expected: list[dict[str, Any]] = []
        for file in manifest["files"]:
            if file["split"] == split:
                for line in _lines(folder / file["path"]):
                    expected.append({**orjson.loads(line), "category": file["category"]})
        assert rows == expected
        assert len({row["category"] for row in rows}) >= 1
    assert sum(entry["rows"] for entry in combined) == manifest["counts"]["rows_written"]
    # The card lists them; the archive holds them.
    readme = (folder / "README.md").read_text()
    for entry in combined:
        assert f"| `{entry['path']}` | {entry['rows']} | `{entry['sha256']}` |" in readme
    with tarfile.open(folder / export.archive_name) as tar:
        names = {member.name.split("/", 1)[1] for member in tar.getmembers()}
    assert {entry["path"] for entry in combined} <= names


@pytest.mark.django_db
def test_combined_rows_of_a_format_with_a_category_are_the_same_bytes(
    hand: dict[str, Any], personas: dict[str, User], run_export: Any
) -> None:
    many_prompts(hand, personas)
    export = run_export(format="trl-preference", seed=3, split_ratios=SPLITS)
    folder = export_folder(export)
    for entry in export.manifest["combined_files"]:
        per_category = b"".join(
            (folder / file["path"]).read_bytes()
            for file in export.manifest["files"]
            if file["split"] == entry["split"]
        )
        assert (folder / entry["path"]).read_bytes() == per_category


@pytest.mark.django_db
def test_openai_rows_stay_bare_and_the_category_goes_beside(
    hand: dict[str, Any], personas: dict[str, User], run_export: Any
) -> None:
    many_prompts(hand, personas)
    export = run_export(format="openai-dpo", seed=3, split_ratios=SPLITS)
    folder = export_folder(export)
    manifest = export.manifest
    paths = {entry["path"] for entry in manifest["combined_files"]}
    _check_listing(folder, manifest["combined_files"])
    for split, count in manifest["counts"]["rows_by_split"].items():
        if not count:
            assert f"{split}.jsonl" not in paths
            continue
        data = _lines(folder / f"{split}.jsonl")
        beside = [orjson.loads(line) for line in _lines(folder / f"{split}.metadata.jsonl")]
        assert len(data) == len(beside) == count
        for line in data:
            assert set(orjson.loads(line)) == {"input", "preferred_output", "non_preferred_output"}
        categories = []
        for file in manifest["files"]:
            if file["split"] == split:
                categories += [file["category"]] * file["rows"]
        assert beside == [{"category": category} for category in categories]


@pytest.mark.django_db
def test_combined_csv_has_the_header_once(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="judgments-csv", split_ratios={"train": 1.0})
    folder = export_folder(export)
    [entry] = export.manifest["combined_files"]
    assert entry["path"] == "train.csv"
    records = list(csv.DictReader(io.StringIO((folder / "train.csv").read_text())))
    assert len(records) == entry["rows"] == export.manifest["counts"]["rows_written"]
    per_category = [
        record
        for file in export.manifest["files"]
        for record in csv.DictReader(io.StringIO((folder / file["path"]).read_text()))
    ]
    assert records == per_category


def test_metadata_lines_follow_their_rows(tmp_path: Path) -> None:
    """A row with metadata and one without, in one split: line n describes row n."""
    writer = DataWriter(tmp_path, extension="jsonl", metadata_beside=True)
    writer.write_json("a/x", "train", {"n": 1})
    writer.write_metadata("a/x", "train", {"label_source": "grader"})
    writer.write_json("a/x", "test", {"n": 2})
    writer.write_json("b/y", "train", {"n": 3})
    writer.close()
    beside = [orjson.loads(line) for line in _lines(tmp_path / "train.metadata.jsonl")]
    assert beside == [{"label_source": "grader", "category": "a/x"}, {"category": "b/y"}]
    assert [orjson.loads(line) for line in _lines(tmp_path / "test.metadata.jsonl")] == [
        {"category": "a/x"}
    ]
    assert [r.path for r in writer.combined_files] == [
        "test.jsonl",
        "test.metadata.jsonl",
        "train.jsonl",
        "train.metadata.jsonl",
    ]
