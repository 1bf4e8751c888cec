"""Layout, splits, manifest, reproducibility, failure and the real Celery job."""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User

from exports import services
from exports.models import Export
from exports.services import export_folder
from exports.splits import split_for

from ..conftest import wait_until
from .conftest import Builder, read_jsonl


def many_prompts(hand: dict[str, Any], personas: dict[str, User], count: int = 40) -> None:
    """Prompts in two categories, each with one judged pair, plus an exact duplicate prompt
    in a second campaign (same content → same split)."""
    build: Builder = hand["build"]
    anna = personas["anna"]
    for index in range(count):
        category = "biology/low-risk-dual-use" if index % 2 else "weapons/conventional"
        prompt = build.prompt(f"question {index}", category, "benign")
        first = build.candidate(prompt, f"good answer {index}")
        second = build.candidate(prompt, f"bad answer {index}")
        pair = build.pair(first, second)
        build.judge(pair, anna, ("direct_answer", "none", 4), ("other", "none", 1), -2)


@pytest.mark.django_db
def test_layout_splits_and_manifest(
    hand: dict[str, Any], personas: dict[str, User], run_export: Any
) -> None:
    many_prompts(hand, personas)
    export = run_export(format="trl-preference", seed=7)
    assert export.status == "completed", export.error
    folder = export_folder(export)
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    assert manifest == export.manifest
    for key in (
        "export_id",
        "format",
        "created_at",
        "app_version",
        "selection",
        "preference_source",
        "min_margin",
        "seed",
        "split_ratios",
        "policy_version",
        "files",
        "counts",
        "agreement",
    ):
        assert key in manifest
    assert manifest["policy_version"] == {
        "number": hand["policy"].number,
        "severity_to_safety": hand["policy"].severity_to_safety,
    }
    # One file per (category, split), under data/<area>/<category>/<split>.jsonl.
    on_disk = sorted(str(p.relative_to(folder)) for p in (folder / "data").rglob("*.jsonl"))
    assert on_disk == sorted(f["path"] for f in manifest["files"])
    for entry in manifest["files"]:
        path = folder / entry["path"]
        area, category = entry["category"].split("/")
        assert entry["path"] == f"data/{area}/{category}/{entry['split']}.jsonl"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
        rows = read_jsonl(path)
        assert len(rows) == entry["rows"]
        assert {row["category"] for row in rows} == {entry["category"]}
    assert sum(f["rows"] for f in manifest["files"]) == manifest["counts"]["rows_written"]
    # No prompt in two splits, and every prompt where its seeded hash puts it.
    split_of_prompt: dict[str, set[str]] = {}
    for entry in manifest["files"]:
        for row in read_jsonl(folder / entry["path"]):
            split_of_prompt.setdefault(orjson.dumps(row["prompt"]).decode(), set()).add(
                entry["split"]
            )
    assert all(len(splits) == 1 for splits in split_of_prompt.values())
    assert {s for splits in split_of_prompt.values() for s in splits} >= {"train"}
    readme = (folder / "README.md").read_text()
    assert f"Rows written: {manifest['counts']['rows_written']}" in readme
    assert f"Pairs considered: {manifest['counts']['pairs_considered']}" in readme
    # The archive holds the same files.
    archive = folder / export.archive_name
    with tarfile.open(archive) as tar:
        names = sorted(m.name.split("/", 1)[1] for m in tar.getmembers())
        assert names == sorted(
            ["manifest.json", "README.md"]
            + [f["path"] for f in manifest["files"]]
            + [f["path"] for f in manifest["combined_files"]]
        )
        member = tar.getmember(f"graylab-export-{export.id}/{manifest['files'][0]['path']}")
        assert member.mtime == 0 and member.uid == 0
        extracted = tar.extractfile(member)
        assert extracted is not None
        assert hashlib.sha256(extracted.read()).hexdigest() == manifest["files"][0]["sha256"]


def test_split_assignment_is_seeded_and_by_content() -> None:
    ratios = {"train": 0.5, "validation": 0.25, "test": 0.25}
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    first = [split_for(h, seed=1, ratios=ratios) for h in hashes]
    assert first == [split_for(h, seed=1, ratios=ratios) for h in hashes]
    assert first != [split_for(h, seed=2, ratios=ratios) for h in hashes]
    share = first.count("train") / len(first)
    assert 0.45 < share < 0.55
    assert {
        split_for(h, seed=1, ratios={"train": 0, "validation": 0, "test": 1}) for h in hashes
    } == {"test"}


@pytest.mark.django_db
def test_duplicate_prompt_in_another_campaign_shares_the_split(
    hand: dict[str, Any], personas: dict[str, User], run_export: Any
) -> None:
    from labeling.models import Campaign

    other = Campaign.objects.create(name="Other", slug="other", policy_version=hand["policy"])
    for campaign in (hand["campaign"], other):
        build = Builder(campaign)
        build.counter = 1000 if campaign == other else 2000
        for index in range(30):
            prompt = build.prompt(f"duplicated {index}", "benign/general", "benign")
            pair = build.pair(build.candidate(prompt, "a"), build.candidate(prompt, "b"))
            build.judge(
                pair, personas["anna"], ("direct_answer", "none", 4), ("other", "none", 1), -1
            )
    export = run_export(
        format="trl-preference",
        campaigns=["hand", "other"],
        split_ratios={"train": 0.34, "validation": 0.33, "test": 0.33},
        categories=["benign"],
    )
    seen: dict[str, set[str]] = {}
    for entry in export.manifest["files"]:
        for row in read_jsonl(export_folder(export) / entry["path"]):
            seen.setdefault(row["prompt"][0]["content"], set()).add(entry["split"])
    assert len(seen) == 30
    assert all(len(splits) == 1 for splits in seen.values())
    assert len({s for splits in seen.values() for s in splits}) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["trl-preference", "reward", "judgments-csv", "openai-sft"])
def test_reproducible_bytes(
    fmt: str, hand: dict[str, Any], personas: dict[str, User], run_export: Any
) -> None:
    many_prompts(hand, personas, count=12)
    first = run_export(format=fmt, seed=3)
    second = run_export(format=fmt, seed=3)
    assert first.id != second.id
    files_first = first.manifest["files"]
    assert files_first == second.manifest["files"]
    for entry in files_first:
        assert (export_folder(first) / entry["path"]).read_bytes() == (
            export_folder(second) / entry["path"]
        ).read_bytes()


@pytest.mark.django_db
def test_zip_archive(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="reward", archive_format="zip")
    assert export.archive_name.endswith(".zip")
    with zipfile.ZipFile(export_folder(export) / export.archive_name) as archive:
        names = archive.namelist()
    assert f"graylab-export-{export.id}/manifest.json" in names


@pytest.mark.django_db
def test_category_subtree_and_intent_selection(hand: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="trl-preference", categories=["biology"], intents=["benign"])
    assert export.manifest["counts"]["pairs_considered"] == 1
    leaf = run_export(format="trl-preference", categories=["cybersecurity/malware-intrusion"])
    assert leaf.manifest["counts"]["pairs_considered"] == 3


@pytest.mark.django_db
def test_failed_export_leaves_nothing_complete(
    hand: dict[str, Any], personas: dict[str, User], exports_dir: Path, monkeypatch: Any
) -> None:
    # A real failure on disk: the export folder's parent is a file, so nothing can be written.
    exports_dir.parent.mkdir(parents=True, exist_ok=True)
    exports_dir.write_text("not a folder")
    export = services.export_create(
        user=personas["rita"], data={"format": "reward", "campaigns": ["hand"]}, enqueue=False
    )
    result = services.export_run(export_id=export.id)
    assert result.status == Export.Status.FAILED
    assert "FileExistsError" in result.error or "NotADirectoryError" in result.error
    assert result.archive_name == ""
    assert services.export_archive_path(result) is None


@pytest.mark.django_db
def test_failure_midway_removes_temporary_files(
    hand: dict[str, Any], personas: dict[str, User], exports_dir: Path
) -> None:
    # Two categories whose folder names collide: the second file of the same path fails
    # ("x" mode), half-way through the stream.
    build: Builder = hand["build"]
    for category in ("weapons/Explosives", "weapons/explosives"):
        prompt = build.prompt(f"q {category}", category, "benign")
        pair = build.pair(build.candidate(prompt, "a"), build.candidate(prompt, "b"))
        build.judge(pair, personas["anna"], ("direct_answer", "none", 4), ("other", "none", 1), -1)
    export = services.export_create(
        user=personas["rita"],
        data={"format": "trl-preference", "campaigns": ["hand"], "split_ratios": {"train": 1}},
        enqueue=False,
    )
    result = services.export_run(export_id=export.id)
    assert result.status == Export.Status.FAILED, result.manifest
    assert "FileExistsError" in result.error
    assert list(exports_dir.iterdir()) == []  # no folder, complete-looking or not


@pytest.mark.worker
def test_export_runs_on_a_real_worker(
    celery_worker: Any, hand: dict[str, Any], client_for: Any
) -> None:
    client = client_for("rita")
    response = client.post(
        "/api/v1/exports/",
        {"format": "trl-preference", "campaigns": ["hand"]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    export_id = response.json()["id"]
    wait_until(lambda: Export.objects.get(pk=export_id).is_finished, timeout=180)
    # A preference export's archive is packed again once its learnability report is in (the
    # manifest and card change, the data files do not): compare sizes after that.
    wait_until(
        lambda: (
            Export.objects.get(pk=export_id).learnability_status
            in (Export.Status.COMPLETED, Export.Status.FAILED)
        ),
        timeout=180,
    )
    export = Export.objects.get(pk=export_id)
    assert export.status == Export.Status.COMPLETED, export.error
    assert export.percent == 100
    detail = client.get(f"/api/v1/exports/{export_id}/").json()
    assert detail["status"] == "completed"
    download = client.get(f"/api/v1/exports/{export_id}/download/")
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert body[:2] == b"\x1f\x8b"
    assert len(body) == export.archive_bytes


@pytest.mark.django_db(transaction=True)
def test_progress_is_reported_while_rows_stream(
    hand: dict[str, Any], personas: dict[str, User], monkeypatch: Any
) -> None:
    """Progress goes through its own connection: the stream holds the main one (a COPY)."""
    from django.db import DEFAULT_DB_ALIAS, connections

    from exports import pipeline

    many_prompts(hand, personas, count=20)
    monkeypatch.setattr(pipeline, "PROGRESS_EVERY_PAIRS", 1)
    observer = connections.create_connection(DEFAULT_DB_ALIAS)
    seen: list[int] = []
    original = pipeline.run_pipeline

    def spy(*args: Any, **kwargs: Any) -> Any:
        report = kwargs["on_progress"]

        def on_progress(done: int) -> None:
            report(done)
            with observer.cursor() as cursor:  # another session sees it at once
                cursor.execute("SELECT pairs_done FROM exports_export")
                seen.append(cursor.fetchone()[0])

        kwargs["on_progress"] = on_progress
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "run_pipeline", spy)
    try:
        export = services.export_create(
            user=personas["rita"], data={"format": "reward", "campaigns": ["hand"]}, enqueue=False
        )
        result = services.export_run(export_id=export.id)
    finally:
        observer.close()
    assert result.status == Export.Status.COMPLETED, result.error
    assert seen and seen == sorted(seen) and seen[-1] >= 20
