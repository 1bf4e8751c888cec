"""The learnability report: planted signals, reproducibility, where it shows, who sees it."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from exports import services
from exports.learnability import services as learnability_services
from exports.learnability.model import MIN_EVAL_PAIRS, MIN_TRAIN_PAIRS
from exports.learnability.reading import report_for_folder
from exports.models import Export, LearnabilityEstimate

from ..conftest import wait_until
from .learnability_data import export_data, planted_campaign


def run_export(user: User, data: dict[str, Any]) -> Export:
    """An export run here and now, its report left queued as a worker would find it."""
    export = services.export_create(user=user, data=data, enqueue=False)
    return services.export_run(export_id=export.id, enqueue_learnability=False)


def data_hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((folder / "data").rglob("*"))
        if path.is_file()
    }


def archive_member(export: Export, name: str) -> bytes:
    path = services.export_archive_path(export)
    assert path is not None
    with tarfile.open(path) as archive:
        member = archive.extractfile(f"graylab-export-{export.id}/{name}")
        assert member is not None
        return member.read()


def archive_names(export: Export) -> set[str]:
    """The archive's members, without the export's own top folder."""
    path = services.export_archive_path(export)
    assert path is not None
    prefix = f"graylab-export-{export.id}/"
    with tarfile.open(path) as archive:
        return {name.removeprefix(prefix) for name in archive.getnames() if name != prefix[:-1]}


@pytest.mark.django_db
def test_a_keyword_signal_is_learned_reproducibly_and_shown_everywhere(
    personas: dict[str, User], client_for: Any
) -> None:
    planted_campaign("keyword", pairs=240, rule="keyword")
    export = run_export(personas["rita"], export_data("keyword"))
    # The export is complete and downloadable before its report exists.
    assert export.status == Export.Status.COMPLETED
    assert export.learnability_status == Export.Status.QUEUED
    assert export.manifest["learnability"]["status"] == "pending"
    assert services.export_archive_path(export) is not None
    folder = services.export_folder(export)
    before = data_hashes(folder)
    page = client_for("rita").get(f"/exports/{export.id}/")
    assert "learnability: computing…" in page.content.decode()

    export = learnability_services.export_learnability_run(export_id=export.id)
    assert export.learnability_status == Export.Status.COMPLETED, export.learnability_error
    report = export.learnability
    assert report["status"] == "ok"
    assert sum(report["pairs"].values()) == 240
    for split in ("validation", "test"):
        block = report["splits"][split]
        assert block["accuracy"] >= 0.9, block
        assert block["interval"][0] > 0.5 and block["beats_chance"]
        assert not block["length_bias"]
        assert block["length_baseline"]["accuracy"] < 0.75
        assert [point["share"] for point in block["learning_curve"]] == [0.25, 0.5, 1.0]
        assert {row["category"] for row in block["by_category"]} == {
            "biology/low-risk-dual-use",
            "weapons/conventional",
        }
        assert report["not_above_chance"][split] == []

    # The same pairs and seed give the same report; the data files are untouched.
    again, _pairs = report_for_folder(folder)
    assert again == report
    assert data_hashes(folder) == before
    manifest = orjson.loads(archive_member(export, "manifest.json"))
    assert manifest["learnability"] == report
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == before
    assert orjson.loads((folder / "manifest.json").read_bytes())["learnability"] == report
    card = archive_member(export, "README.md").decode()
    assert "## Learnability" in card and "length-only baseline" in card
    assert card == (folder / "README.md").read_text()
    archived = services.export_archive_path(export)
    assert archived is not None and archived.stat().st_size == export.archive_bytes

    detail = client_for("rita").get(f"/api/v1/exports/{export.id}/").json()
    assert detail["learnability_status"] == "completed"
    assert detail["learnability"] == report
    assert detail["manifest"]["learnability"] == report
    page = client_for("rita").get(f"/exports/{export.id}/").content.decode()
    accuracy = f"{100 * report['splits']['test']['accuracy']:.1f}%"
    assert accuracy in page and "Length-only baseline" in page


@pytest.mark.django_db
def test_a_length_biased_dataset_is_flagged_by_the_length_baseline(
    personas: dict[str, User], client_for: Any
) -> None:
    planted_campaign("lengthy", pairs=240, rule="length")
    export = run_export(personas["rita"], export_data("lengthy"))
    export = learnability_services.export_learnability_run(export_id=export.id)
    report = export.learnability
    assert report["length_direction"] == "longer"
    for split in ("validation", "test"):
        block = report["splits"][split]
        assert block["length_baseline"]["accuracy"] == 1.0
        assert block["length_baseline"]["beats_chance"]
        assert block["length_bias"], block
    page = client_for("rita").get(f"/exports/{export.id}/learnability/").content.decode()
    assert "Length bias (test)" in page
    assert "**Length bias (test)**" in archive_member(export, "README.md").decode()


@pytest.mark.django_db
def test_no_signal_is_not_above_chance(personas: dict[str, User]) -> None:
    planted_campaign("noise", pairs=240, rule="random")
    export = run_export(personas["rita"], export_data("noise"))
    report = learnability_services.export_learnability_run(export_id=export.id).learnability
    for split in ("validation", "test"):
        assert report["splits"][split]["interval"][0] <= 0.5
        assert set(report["not_above_chance"][split]) <= {
            "biology/low-risk-dual-use",
            "weapons/conventional",
        }
    assert any(report["not_above_chance"].values())


@pytest.mark.django_db
def test_too_few_pairs_says_how_many_it_needs(personas: dict[str, User], client_for: Any) -> None:
    planted_campaign("tiny", pairs=30, rule="keyword")
    export = run_export(personas["rita"], export_data("tiny"))
    export = learnability_services.export_learnability_run(export_id=export.id)
    report = export.learnability
    assert report["status"] == "too_few_pairs"
    assert report["needs"] == {
        "train": MIN_TRAIN_PAIRS,
        "validation": MIN_EVAL_PAIRS,
        "test": MIN_EVAL_PAIRS,
    }
    assert f"needs {MIN_TRAIN_PAIRS}" in report["message"]
    assert sum(report["pairs"].values()) == 30
    assert orjson.loads(archive_member(export, "manifest.json"))["learnability"] == report
    page = client_for("rita").get(f"/exports/{export.id}/").content.decode()
    assert f"at least {MIN_TRAIN_PAIRS} train pairs" in page


@pytest.mark.django_db
def test_the_report_keeps_every_file_of_the_archive(personas: dict[str, User]) -> None:
    """Packing the archive again with the report keeps what the export packed: the files per
    category, the files of every category together (``train.jsonl`` …), the card and manifest."""
    planted_campaign("kept", pairs=30, rule="keyword")
    export = run_export(personas["rita"], export_data("kept"))
    before = archive_names(export)
    assert {"train.jsonl", "manifest.json", "README.md"} <= before
    export = learnability_services.export_learnability_run(export_id=export.id)
    assert export.learnability_status == Export.Status.COMPLETED, export.learnability_error
    assert archive_names(export) == before


@pytest.mark.django_db
def test_openai_dpo_surprising_pairs_are_the_flipped_ones_and_link_to_review(
    personas: dict[str, User], client_for: Any
) -> None:
    planted = planted_campaign("flips", pairs=300, rule="keyword", flipped=30)
    export = run_export(personas["rita"], export_data("flips", "openai-dpo"))
    report = learnability_services.export_learnability_run(export_id=export.id).learnability
    surprising = report["surprising"]
    assert surprising and all(item["pair_id"] for item in surprising)
    # The model learns the keyword from the rest, so the pairs it finds most surprising are
    # mostly the planted label errors (one pair in ten is flipped).
    hits = [item["pair_id"] in planted["flipped"] for item in surprising]
    assert all(hits[:5]), hits
    assert sum(hits) / len(hits) >= 0.6, hits
    confidences = [item["confidence_against_label"] for item in surprising]
    assert confidences == sorted(confidences, reverse=True) and confidences[0] > 0.5
    first = surprising[0]["pair_id"]
    admin_page = client_for("alice").get(f"/exports/{export.id}/").content.decode()
    assert f'href="/review/pairs/{first}/"' in admin_page
    # A researcher (no reviewer role) sees the pair named, not a link to a page they cannot open.
    researcher_page = client_for("rita").get(f"/exports/{export.id}/").content.decode()
    assert f"pair {first}" in researcher_page
    assert f'href="/review/pairs/{first}/"' not in researcher_page


@pytest.mark.django_db
def test_non_preference_formats_get_no_report(personas: dict[str, User]) -> None:
    planted_campaign("pointwise", pairs=60, rule="keyword")
    export = run_export(personas["rita"], export_data("pointwise", "reward"))
    assert export.status == Export.Status.COMPLETED
    assert export.learnability_status == ""
    assert "learnability" not in export.manifest


@pytest.mark.django_db
def test_the_command_prints_the_report_for_an_id_and_an_unpacked_folder(
    personas: dict[str, User], tmp_path: Path
) -> None:
    planted_campaign("command", pairs=240, rule="keyword")
    export = run_export(personas["rita"], export_data("command"))
    export = learnability_services.export_learnability_run(export_id=export.id)
    out = io.StringIO()
    call_command("learnability", str(export.id), "--json", stdout=out)
    assert orjson.loads(out.getvalue()) == export.learnability
    archive = services.export_archive_path(export)
    assert archive is not None
    with tarfile.open(archive) as unpacked:
        unpacked.extractall(tmp_path / "unpacked", filter="data")
    out = io.StringIO()
    call_command("learnability", str(tmp_path / "unpacked"), "--json", stdout=out)
    assert orjson.loads(out.getvalue()) == export.learnability
    out = io.StringIO()
    call_command("learnability", str(tmp_path / "unpacked"), stdout=out)
    assert "## Learnability" in out.getvalue() and "| test |" in out.getvalue()
    # A data file that no longer matches its manifest is refused, naming it (a category's
    # file: the report reads those, not the files of every category together).
    data_file = next(
        path for path in (tmp_path / "unpacked").rglob("train.jsonl") if "data" in path.parts
    )
    data_file.write_bytes(data_file.read_bytes() + b"{}\n")
    with pytest.raises(CommandError, match=r"train\.jsonl: its SHA-256 differs"):
        call_command("learnability", str(tmp_path / "unpacked"), "--json")
    with pytest.raises(CommandError, match="neither a folder nor an export id"):
        call_command("learnability", "no-such-thing")


@pytest.mark.django_db
def test_roles(personas: dict[str, User], client_for: Any) -> None:
    planted_campaign("roles", pairs=40, rule="keyword")
    export = run_export(personas["rita"], export_data("roles"))
    estimate = LearnabilityEstimate.objects.create(
        created_by=personas["rita"], spec=export.spec, status="completed", report={}
    )
    for name in ("anna", "victor", "nobody"):
        client = client_for(name)
        assert client.get(f"/exports/{export.id}/learnability/").status_code == 403
        assert client.get(f"/exports/learnability/{estimate.id}/").status_code == 403
        assert client.post("/exports/learnability/", {"campaigns": ["roles"]}).status_code == 403
        assert client.post("/api/v1/exports/learnability/", {}).status_code == 403
        assert client.get(f"/api/v1/exports/learnability/{estimate.id}/").status_code == 403
    other = User.objects.create_user("other-researcher", password="x")
    other.groups.set(personas["rita"].groups.all())
    client = client_for("rita")
    client.force_login(other)
    assert client.get(f"/exports/{export.id}/learnability/").status_code == 404
    assert client.get(f"/exports/learnability/{estimate.id}/").status_code == 404
    assert client.get(f"/api/v1/exports/learnability/{estimate.id}/").status_code == 404
    assert (
        client_for("alice").get(f"/api/v1/exports/learnability/{estimate.id}/").status_code == 200
    )


@pytest.mark.worker
def test_on_a_real_worker_the_export_completes_first_then_its_report(
    celery_worker: Any, personas: dict[str, User], client_for: Any
) -> None:
    planted_campaign("worker", pairs=240, rule="keyword")
    client = client_for("rita")
    response = client.post(
        "/api/v1/exports/", export_data("worker"), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    export_id = response.json()["id"]
    wait_until(
        lambda: (
            Export.objects.get(pk=export_id).learnability_status
            in (Export.Status.COMPLETED, Export.Status.FAILED)
        ),
        timeout=180,
    )
    export = Export.objects.get(pk=export_id)
    assert export.learnability_status == Export.Status.COMPLETED, export.learnability_error
    assert export.finished_at is not None and export.learnability_at is not None
    assert export.finished_at < export.learnability_at
    assert export.learnability["status"] == "ok"
    assert client.get(f"/api/v1/exports/{export_id}/").json()["learnability"] == (
        export.learnability
    )


@pytest.mark.worker
def test_an_estimate_from_the_form_is_computed_by_a_worker(
    celery_worker: Any, personas: dict[str, User], client_for: Any
) -> None:
    planted_campaign("estimate", pairs=240, rule="keyword")
    client = client_for("rita")
    form = {
        "campaigns": ["estimate"],
        "format": "reward",  # the estimate reads the selection's preference pairs whatever
        "label_sources": ["prior"],
        "train": "0.5",
        "validation": "0.25",
        "test": "0.25",
        "seed": "11",
        "preference_source": "human",
        "label_source": "human",
        "archive_format": "tar.gz",
        "min_judgments": "1",
        "min_agreement": "0",
        "min_margin": "0",
        "sft_threshold": "0.66",
        "kto_threshold": "0.5",
        "min_grader_confidence": "0",
    }
    response = client.post("/exports/learnability/", form, HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content
    assert "learnability: computing…" in response.content.decode()
    estimate = LearnabilityEstimate.objects.get()
    wait_until(lambda: LearnabilityEstimate.objects.get().is_finished, timeout=120)
    estimate.refresh_from_db()
    assert estimate.status == "completed", estimate.error
    assert estimate.report["splits"]["test"]["accuracy"] >= 0.9
    page = client.get(f"/exports/learnability/{estimate.id}/", HTTP_HX_REQUEST="true")
    assert "Length-only baseline" in page.content.decode()
    api = client.get(f"/api/v1/exports/learnability/{estimate.id}/").json()
    assert api["report"] == estimate.report
    # The same pairs as the export of that selection would hold.
    export = run_export(personas["rita"], export_data("estimate"))
    export = learnability_services.export_learnability_run(export_id=export.id)
    assert export.learnability["pairs"] == estimate.report["pairs"]


@pytest.mark.django_db
def test_the_sweep_sends_again_a_report_whose_message_is_lost(personas: dict[str, User]) -> None:
    from datetime import timedelta

    from django.utils import timezone

    planted_campaign("sweep", pairs=40, rule="keyword")
    export = run_export(personas["rita"], export_data("sweep"))
    estimate = LearnabilityEstimate.objects.create(
        created_by=personas["rita"], spec=export.spec, started_at=timezone.now()
    )
    # Just queued: the message may still be on its way; nothing is sent again.
    assert learnability_services.learnability_recover() == {
        "learnability_resent": 0,
        "estimates_resent": 0,
    }
    long_ago = timezone.now() - timedelta(minutes=10)
    Export.objects.filter(pk=export.pk).update(learnability_at=long_ago)
    LearnabilityEstimate.objects.filter(pk=estimate.pk).update(
        status=LearnabilityEstimate.Status.RUNNING, started_at=long_ago
    )
    assert learnability_services.learnability_recover() == {
        "learnability_resent": 1,
        "estimates_resent": 1,
    }
    export.refresh_from_db()
    estimate.refresh_from_db()
    assert export.learnability_status == Export.Status.QUEUED
    assert export.learnability_at is not None and export.learnability_at > long_ago
    assert estimate.status == LearnabilityEstimate.Status.QUEUED
    # One sweep sends it; the next finds nothing stale.
    assert learnability_services.learnability_recover() == {
        "learnability_resent": 0,
        "estimates_resent": 0,
    }
    # The message, delivered, computes the report.
    export = learnability_services.export_learnability_run(export_id=export.id)
    assert export.learnability_status == Export.Status.COMPLETED
