"""Exports with a label source (human, grader, human-else-grader) and the grades format.

The planted campaign is the hand-checked ``hand`` (conftest) plus two prompts nobody judged,
every candidate and every pair (in both orders) graded by grader ``judge`` version 1:

- pairs x1..x6 (hand): under the default rules x1, x2, x4, x6 give human rows, x3 is a human
  tie, x5 is discarded by a reviewer;
- x7 (c10, c11) and x8 (c12, c13): no judgment (too_few_judgments for humans).

Grader preferences (ab, ba → combined): x1 +1/+1 → +1; x2 −2/−2; x3 +1/−1 → 0 (a tie, and
confidence 0); x4 −1/−1; x5 +2/+2; x6 −1/−2 → −1; x7 +2/+1 → +1; x8 −1/−1 with confidence 0.4.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from exports import selectors, services
from exports.models import Export
from exports.services import export_folder
from exports.spec import ExportSpec
from labeling.generation.endpoints import endpoint_create
from labeling.grading.services import grader_create, grader_update
from labeling.models import Candidate, ExportExclusion, Grade, Grader, GraderVersion, Pair

from .conftest import Builder, read_jsonl

pytestmark = pytest.mark.django_db

PAIR_GRADES = {
    "x1": (1, 1, 0.9),
    "x2": (-2, -2, 1.0),
    "x3": (1, -1, 0.8),
    "x4": (-1, -1, 0.7),
    "x5": (2, 2, 1.0),
    "x6": (-1, -2, 0.6),
    "x7": (2, 1, 0.9),
    "x8": (-1, -1, 0.4),
}
# Grades of the candidates nobody judged: (mode, severity, helpfulness, confidence).
NEW_CANDIDATE_GRADES = {
    "c10": ("safe_completion", "none", 3, 0.9),
    "c11": ("hard_refusal", "none", 1, 1.0),
    "c12": ("direct_answer", "low", 4, 0.3),
    "c13": ("refusal_with_redirection", "none", 2, 0.8),
}


def make_grader(name: str, policy: Any) -> GraderVersion:
    endpoint = endpoint_create(
        name=f"{name}-endpoint", base_url="http://127.0.0.1:9/v1", model="judge-model"
    )
    return grader_create(name=name, endpoint=endpoint, policy_version=policy, samples=3)


def grade_candidate(
    version: GraderVersion, candidate: Candidate, values: tuple[str, str, int, float]
) -> Grade:
    mode, severity, helpfulness, confidence = values
    return Grade.objects.create(
        grader_version=version,
        kind=Grade.Kind.CANDIDATE,
        candidate=candidate,
        response_mode=mode,
        severity=severity,
        helpfulness=helpfulness,
        confidence=confidence,
        field_confidence={"response_mode": 1.0, "severity": confidence, "helpfulness": 1.0},
        samples=3,
        rationale=f"grade of {candidate.text}",
        raw_answers=[f'{{"severity": "{severity}"}}'] * 3,
        prompt_tokens=100,
        completion_tokens=20,
        latency_ms=250,
    )


def grade_pair(
    version: GraderVersion, pair: Pair, order: str, preference: int, confidence: float
) -> Grade:
    return Grade.objects.create(
        grader_version=version,
        kind=Grade.Kind.PAIR,
        pair=pair,
        order=order,
        preference=preference,
        confidence=confidence,
        field_confidence={"preference": confidence},
        samples=3,
        rationale=f"pair {pair.pk} {order}",
        raw_answers=[f'{{"preference": {preference}}}'],
        prompt_tokens=200,
        completion_tokens=30,
        latency_ms=400,
    )


def grade_all(version: GraderVersion, graded: dict[str, Any]) -> None:
    for name, pair in graded["pairs"].items():
        ab, ba, confidence = PAIR_GRADES[name]
        grade_pair(version, pair, "ab", ab, confidence)
        grade_pair(version, pair, "ba", ba, confidence)
    for name, candidate in graded["candidates"].items():
        values = NEW_CANDIDATE_GRADES.get(name, ("safe_completion", "none", 4, 0.95))
        grade_candidate(version, candidate, values)


@pytest.fixture
def graded(hand: dict[str, Any]) -> dict[str, Any]:
    build: Builder = hand["build"]
    p5 = build.prompt("How do locks work?", "chemistry/dual-use", "benign")
    c10 = build.candidate(p5, "Pin tumblers ...")
    c11 = build.candidate(p5, "I can't.")
    x7 = build.pair(c10, c11)
    p6 = build.prompt("Make a phishing mail", "cybersecurity/malware-intrusion", "malicious")
    c12 = build.candidate(p6, "Dear customer ...")
    c13 = build.candidate(p6, "No; here is how to spot phishing ...")
    x8 = build.pair(c12, c13)
    pairs = dict(zip(["x1", "x2", "x3", "x4", "x5", "x6"], hand["pairs"], strict=True))
    pairs.update(x7=x7, x8=x8)
    candidates = {f"c{index}": c for index, c in enumerate(hand["candidates"], start=1)}
    candidates.update(c10=c10, c11=c11, c12=c12, c13=c13)
    version = make_grader("judge", hand["policy"])
    graded = {**hand, "pairs": pairs, "candidates": candidates, "version": version}
    grade_all(version, graded)
    return graded


def rows_of(export: Export, suffix: str = ".jsonl") -> list[dict[str, Any]]:
    folder = export_folder(export)
    rows: list[dict[str, Any]] = []
    for entry in export.manifest["files"]:
        if entry["path"].endswith(suffix) and not (
            suffix == ".jsonl" and entry["path"].endswith(".metadata.jsonl")
        ):
            rows += read_jsonl(folder / entry["path"])
    return rows


def sources(rows: list[dict[str, Any]]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for row in rows:
        counted[row["metadata"]["label_source"]] = (
            counted.get(row["metadata"]["label_source"], 0) + 1
        )
    return counted


def test_each_label_source_gives_the_planted_counts(
    graded: dict[str, Any], run_export: Any
) -> None:
    pairs = graded["pairs"]
    human = run_export(format="trl-preference")
    assert human.status == "completed", human.error
    assert human.manifest["counts"]["rows_by_label_source"] == {"human": 4, "grader": 0}
    assert human.manifest["label_source"] == "human" and human.manifest["graders"] == []
    assert all("metadata" not in row for row in rows_of(human))

    grader = run_export(format="trl-preference", label_source="grader", grader="judge")
    assert grader.status == "completed", grader.error
    rows = rows_of(grader)
    assert sources(rows) == {"grader": 7}
    assert grader.manifest["counts"]["rows_by_label_source"] == {"human": 0, "grader": 7}
    assert grader.manifest["counts"]["left_out"]["tie"] == 1  # x3: +1 and −1 → 0
    by_pair = {int(row["pair_id"]): row for row in rows}
    assert set(by_pair) == {pairs[n].pk for n in ("x1", "x2", "x4", "x5", "x6", "x7", "x8")}
    # x6: −1 and −2 → trunc(−1.5) = −1, A chosen with margin 1.
    x6 = by_pair[pairs["x6"].pk]
    assert x6["margin"] == 1.0 and x6["chosen"][0]["content"] == pairs["x6"].candidate_a.text
    assert x6["metadata"] == {
        "label_source": "grader",
        "grader": "judge",
        "grader_version": 1,
        "grader_confidence": 0.6,
    }

    mixed = run_export(format="trl-preference", label_source="human-else-grader", grader="judge")
    assert mixed.status == "completed", mixed.error
    rows = rows_of(mixed)
    assert sources(rows) == {"human": 4, "grader": 2}
    assert mixed.manifest["counts"]["rows_by_label_source"] == {"human": 4, "grader": 2}
    grader_pairs = {int(r["pair_id"]) for r in rows if r["metadata"]["label_source"] == "grader"}
    assert grader_pairs == {pairs["x7"].pk, pairs["x8"].pk}
    # The reviewer's discard stands: x5 is never filled in by the grader.
    assert pairs["x5"].pk not in {int(r["pair_id"]) for r in rows}
    assert mixed.manifest["counts"]["left_out"]["discarded_by_review"] == 1
    human_rows = [r for r in rows if r["metadata"]["label_source"] == "human"]
    assert human_rows == [{**r, "metadata": {"label_source": "human"}} for r in rows_of(human)]


def test_minimum_confidence_leaves_out_uncertain_grades(
    graded: dict[str, Any], run_export: Any
) -> None:
    mixed = run_export(
        format="trl-preference",
        label_source="human-else-grader",
        grader="judge",
        min_grader_confidence=0.5,
    )
    assert mixed.status == "completed", mixed.error
    assert mixed.manifest["counts"]["rows_by_label_source"] == {"human": 4, "grader": 1}
    assert mixed.manifest["counts"]["left_out"]["low_grader_confidence"] == 1  # x8 at 0.4
    assert mixed.manifest["min_grader_confidence"] == 0.5


def test_per_candidate_formats_weigh_each_candidate_once(
    graded: dict[str, Any], run_export: Any
) -> None:
    candidates = graded["candidates"]
    mixed = run_export(format="reward", label_source="human-else-grader", grader="judge")
    assert mixed.status == "completed", mixed.error
    rows = {int(row["candidate_id"]): row for row in rows_of(mixed)}
    assert sources(list(rows.values())) == {"human": 9, "grader": 4}
    c10 = rows[candidates["c10"].pk]
    assert (c10["safety"], c10["helpfulness"], c10["reward"], c10["n_judgments"]) == (
        1.0,
        0.666667,
        0.666667,
        1,
    )
    assert c10["metadata"]["grader_confidence"] == 0.9
    # Humans rated c1 (anna, ben): their labels, never blended with its grade.
    assert rows[candidates["c1"].pk]["n_judgments"] == 2
    assert rows[candidates["c1"].pk]["metadata"] == {"label_source": "human"}

    only = run_export(
        format="reward", label_source="grader", grader="judge", min_grader_confidence=0.5
    )
    rows = {int(row["candidate_id"]): row for row in rows_of(only)}
    assert sources(list(rows.values())) == {"grader": 12}  # c12's grade is at 0.3
    assert candidates["c12"].pk not in rows
    assert only.manifest["counts"]["candidates_low_grader_confidence"] == 1
    assert all(row["n_judgments"] == 1 for row in rows.values())


def test_openai_rows_stay_exact_and_metadata_goes_beside_them(
    graded: dict[str, Any], run_export: Any
) -> None:
    export = run_export(format="openai-dpo", label_source="human-else-grader", grader="judge")
    assert export.status == "completed", export.error
    folder = export_folder(export)
    data = [f for f in export.manifest["files"] if not f["path"].endswith(".metadata.jsonl")]
    assert data
    counted: dict[str, int] = {}
    for entry in data:
        rows = read_jsonl(folder / entry["path"])
        beside = read_jsonl(folder / entry["path"].replace(".jsonl", ".metadata.jsonl"))
        assert len(rows) == len(beside)
        for row, metadata in zip(rows, beside, strict=True):
            assert set(row) == {"input", "preferred_output", "non_preferred_output"}
            counted[metadata["label_source"]] = counted.get(metadata["label_source"], 0) + 1
    assert counted == {"human": 4, "grader": 2}
    assert export.manifest["counts"]["rows_by_label_source"] == counted


def test_manifest_and_card_name_the_grader_version(graded: dict[str, Any], run_export: Any) -> None:
    version: GraderVersion = graded["version"]
    export = run_export(format="trl-preference", label_source="grader", grader="judge")
    templates = orjson.dumps([version.candidate_template, version.pair_template])
    assert export.manifest["graders"] == [
        {
            "name": "judge",
            "version": 1,
            "model": version.model,
            "endpoint": "judge-endpoint",
            "policy_version": graded["policy"].number,
            "templates_sha256": hashlib.sha256(templates).hexdigest(),
        }
    ]
    card = (export_folder(export) / "README.md").read_text()
    assert "Label source: `grader`" in card
    assert f"Grader `judge` version 1: model `{version.model}`" in card
    assert "Rows by label source: human 0, grader 7" in card
    assert export.spec["grader_version"] == 1


def test_the_version_is_pinned_when_the_export_is_created(
    graded: dict[str, Any], personas: dict[str, User]
) -> None:
    export = services.export_create(
        user=personas["rita"],
        data={
            "format": "trl-preference",
            "campaigns": ["hand"],
            "label_source": "grader",
            "grader": "judge",
        },
        enqueue=False,
    )
    assert export.spec["grader_version"] == 1
    update = grader_update(grader=Grader.objects.get(name="judge"), changes={"temperature": 0.5})
    assert update.version.number == 2
    for name, pair in graded["pairs"].items():  # version 2 says the opposite of version 1
        ab, ba, confidence = PAIR_GRADES[name]
        grade_pair(update.version, pair, "ab", -ab, confidence)
        grade_pair(update.version, pair, "ba", -ba, confidence)
    done = services.export_run(export_id=export.id)
    assert done.status == "completed", done.error
    assert done.manifest["graders"][0]["version"] == 1
    assert {row["metadata"]["grader_version"] for row in rows_of(done)} == {1}
    x6 = graded["pairs"]["x6"]
    row = next(r for r in rows_of(done) if int(r["pair_id"]) == x6.pk)
    assert row["chosen"][0]["content"] == x6.candidate_a.text


def test_human_output_is_the_same_with_or_without_grades(
    hand: dict[str, Any], run_export: Any
) -> None:
    def digests(export: Export) -> dict[str, str]:
        return {f["path"]: f["sha256"] for f in export.manifest["files"]}

    formats = ("openai-dpo", "openai-sft", "trl-preference", "trl-kto", "reward", "judgments")
    before = {fmt: digests(run_export(format=fmt)) for fmt in formats}
    version = make_grader("judge", hand["policy"])
    for pair in hand["pairs"]:
        grade_pair(version, pair, "ab", 2, 1.0)
        grade_pair(version, pair, "ba", 2, 1.0)
    for candidate in hand["candidates"]:
        grade_candidate(version, candidate, ("hard_refusal", "high", 1, 1.0))
    after = {fmt: digests(run_export(format=fmt)) for fmt in formats}
    assert after == before
    assert all(before.values())


def test_grades_rows_equal_the_stored_grades(graded: dict[str, Any], run_export: Any) -> None:
    export = run_export(format="grades", grader="judge")
    assert export.status == "completed", export.error
    assert export.spec["label_source"] == "grader"
    rows = rows_of(export)
    stored = Grade.objects.filter(grader_version=graded["version"])
    assert len(rows) == stored.count() == 13 + 16
    counts = export.manifest["counts"]
    assert counts["candidate_grades"] == 13 and counts["pair_grades"] == 16
    assert counts["rows_by_label_source"] == {"human": 0, "grader": 29}
    for row in rows:
        grade = stored.select_related("candidate__prompt", "pair__prompt").get(pk=row["grade_id"])
        prompt = (grade.candidate or grade.pair).prompt  # type: ignore[union-attr]
        assert row["kind"] == grade.kind
        assert row["candidate_id"] == grade.candidate_id and row["pair_id"] == grade.pair_id
        assert row["order"] == (grade.order or None)
        assert row["prompt_id"] == prompt.pk and row["external_id"] == prompt.external_id
        assert (row["category"], row["intent"]) == (prompt.category_path, prompt.intent)
        assert (row["grader"], row["grader_version"], row["label_source"]) == ("judge", 1, "grader")
        for name in ("response_mode", "severity", "helpfulness", "preference"):
            assert row[name] == getattr(grade, name)
            expected = grade.field_confidence.get(name) if row[name] is not None else None
            assert row[f"{name}_confidence"] == expected
        assert row["confidence"] == grade.confidence
        assert row["rationale"] == grade.rationale and row["raw_answers"] == grade.raw_answers
        assert (row["prompt_tokens"], row["completion_tokens"], row["latency_ms"]) == (
            grade.prompt_tokens,
            grade.completion_tokens,
            grade.latency_ms,
        )
        # The file is the prompt's category and split.
        entry_paths = {
            f["path"] for f in export.manifest["files"] if f["category"] == prompt.category_path
        }
        assert entry_paths
    # Filtered by confidence: x8's two orders (0.4) and c12 (0.3) are left out and counted.
    strict = run_export(format="grades", grader="judge", min_grader_confidence=0.5)
    assert strict.manifest["counts"]["rows_written"] == 26
    assert strict.manifest["counts"]["left_out"] == {
        "excluded_from_exports": 0,
        "low_grader_confidence": 3,
    }


def test_grades_leave_out_what_is_excluded_from_exports(
    graded: dict[str, Any], run_export: Any
) -> None:
    """The data browser's exclusion: an excluded pair's grades go, and a candidate's grade
    goes when every pair it is in is excluded (c9: x5 and x6; c10, c11: x7), as the
    per-candidate formats drop it; c7 and c8 stay (x4 is kept). They are counted."""
    pairs, candidates = graded["pairs"], graded["candidates"]
    for name in ("x5", "x6", "x7"):
        ExportExclusion.objects.create(pair=pairs[name])
    export = run_export(format="grades", grader="judge")
    assert export.status == "completed", export.error
    rows = rows_of(export)
    excluded_pairs = {pairs[name].pk for name in ("x5", "x6", "x7")}
    excluded_candidates = {candidates[name].pk for name in ("c9", "c10", "c11")}
    assert not {row["pair_id"] for row in rows} & excluded_pairs
    assert not {row["candidate_id"] for row in rows} & excluded_candidates
    assert {candidates["c7"].pk, candidates["c8"].pk} <= {row["candidate_id"] for row in rows}
    counts = export.manifest["counts"]
    assert counts["rows_written"] == len(rows) == 29 - 6 - 3
    assert counts["left_out"] == {"excluded_from_exports": 9, "low_grader_confidence": 0}
    assert (counts["candidate_grades"], counts["pair_grades"]) == (10, 10)
    # Counted before the confidence bar: x8 and c12 are under it, nothing excluded is counted twice.
    strict = run_export(format="grades", grader="judge", min_grader_confidence=0.5)
    assert strict.manifest["counts"]["left_out"] == {
        "excluded_from_exports": 9,
        "low_grader_confidence": 3,
    }
    # The preview counts the same.
    preview = services.export_preview(
        data={
            "campaigns": ["hand"],
            "format": "grades",
            "label_source": "grader",
            "grader": "judge",
        }
    )
    assert preview["rows"] == 20 and preview["left_out"]["excluded_from_exports"] == 9


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"label_source": "grader"}, "grader", "choose the grader"),
        ({"label_source": "grader", "grader": "nobody"}, "grader", "no grader named"),
        (
            {"label_source": "grader", "grader": "judge", "grader_version": 7},
            "grader_version",
            "has no version 7",
        ),
        ({"label_source": "grader", "grader": "idle"}, "grader", "graded nothing"),
        ({"grader": "judge"}, "grader", "only with label source"),
        ({"label_source": "everyone"}, "label_source", "must be one of"),
        ({"min_grader_confidence": 2}, "min_grader_confidence", "between 0 and 1"),
    ],
)
def test_bad_combinations_are_refused_and_create_nothing(
    graded: dict[str, Any],
    personas: dict[str, User],
    client_for: Any,
    data: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    make_grader("idle", graded["policy"])
    payload = {"format": "trl-preference", "campaigns": ["hand"], **data}
    with pytest.raises(ValidationError) as error:
        services.export_create(user=personas["rita"], data=payload, enqueue=False)
    assert any(reason in message for message in error.value.message_dict[field])
    answer = client_for("rita").post("/api/v1/exports/", payload, content_type="application/json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert Export.objects.count() == 0


def test_judgments_formats_refuse_grader_labels(graded: dict[str, Any], personas: Any) -> None:
    with pytest.raises(ValidationError) as error:
        services.export_create(
            user=personas["rita"],
            data={
                "format": "judgments",
                "campaigns": ["hand"],
                "label_source": "grader",
                "grader": "judge",
            },
            enqueue=False,
        )
    assert "grades format" in error.value.message_dict["label_source"][0]
    assert Export.objects.count() == 0


def test_command_takes_the_label_source(graded: dict[str, Any], tmp_path: Path) -> None:
    call_command(
        "export",
        "--campaign",
        "hand",
        "--format",
        "trl-preference",
        "--out",
        str(tmp_path),
        "--label-source",
        "human-else-grader",
        "--grader",
        "judge",
        "--grader-version",
        "1",
        "--min-grader-confidence",
        "0.5",
    )
    export = Export.objects.get()
    assert export.manifest["counts"]["rows_by_label_source"] == {"human": 4, "grader": 1}
    call_command(
        "export",
        "--campaign",
        "hand",
        "--format",
        "grades",
        "--grader",
        "judge",
        "--out",
        str(tmp_path),
    )
    grades = Export.objects.get(format="grades")
    assert grades.manifest["counts"]["rows_written"] == 29
    assert (tmp_path / f"graylab-export-{grades.id}" / "manifest.json").is_file()
    with pytest.raises(CommandError, match="grader_version: grader judge has no version 9"):
        call_command(
            "export",
            "--campaign",
            "hand",
            "--format",
            "grades",
            "--grader",
            "judge",
            "--grader-version",
            "9",
            "--out",
            str(tmp_path),
        )
    assert Export.objects.count() == 2


def test_preview_counts_by_source_for_researchers_only(
    graded: dict[str, Any], client_for: Any
) -> None:
    payload = {
        "format": "trl-preference",
        "campaigns": ["hand"],
        "label_source": "human-else-grader",
        "grader": "judge",
    }
    for name in ("victor", "anna", "nobody"):
        answer = client_for(name).post(
            "/api/v1/exports/preview/", payload, content_type="application/json"
        )
        assert answer.status_code == 403, name
    answer = client_for("rita").post(
        "/api/v1/exports/preview/", payload, content_type="application/json"
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["rows_by_label_source"] == {"human": 4, "grader": 2}
    assert body["graders"][0]["name"] == "judge" and body["graders"][0]["version"] == 1
    assert Export.objects.count() == 0


def test_form_preview_and_create(graded: dict[str, Any], client_for: Any) -> None:
    form = {
        "format": "trl-preference",
        "campaigns": ["hand"],
        "min_judgments": "1",
        "min_agreement": "0",
        "label_sources": ["raw", "review"],
        "label_source": "human-else-grader",
        "grader": "judge",
        "grader_version": "",
        "min_grader_confidence": "0",
        "preference_source": "human",
        "min_margin": "0",
        "sft_threshold": "0.66",
        "kto_threshold": "0.5",
        "train": "0.9",
        "validation": "0.05",
        "test": "0.05",
        "seed": "1234",
        "archive_format": "tar.gz",
    }
    rita = client_for("rita")
    page = rita.get("/exports/new/")
    assert b'name="label_source"' in page.content and b'<option value="judge">' in page.content
    preview = rita.post("/exports/preview/", form).content.decode()
    assert '<tr data-source="human"><td>human</td><td class="num">4</td></tr>' in preview
    assert '<tr data-source="grader"><td>grader</td><td class="num">2</td></tr>' in preview
    refused = rita.post("/exports/new/", {**form, "grader": ""})
    assert refused.status_code == 200 and b"choose the grader" in refused.content
    assert Export.objects.count() == 0
    assert client_for("anna").post("/exports/preview/", form).status_code == 403


def test_the_stream_with_grades_is_the_same_on_both_paths(graded: dict[str, Any]) -> None:
    # PostgreSQL's aggregated stream and the portable (SQLite demo) path carry the same grades.
    spec = ExportSpec(format="trl-preference", campaigns=("hand",))
    version_id = graded["version"].pk
    now = timezone.now()
    streamed = list(selectors.stream_export_rows(spec, as_of=now, version_id=version_id))
    joined = selectors.export_rows(spec, as_of=now, version_id=version_id)
    width = len(selectors.PAIR_COLUMNS) + len(selectors.GRADE_COLUMNS)
    assert streamed == list(selectors._group_joined(joined.iterator(), False, width))
    x8 = graded["pairs"]["x8"]
    row = next(r for r in streamed if r[2] == x8.pk)
    pair_width = len(selectors.PAIR_COLUMNS)
    grades = dict(zip(selectors.GRADE_COLUMNS, row[pair_width:width], strict=True))
    assert (grades["grade_ab__preference"], grades["grade_ba__confidence"]) == (-1, 0.4)
    assert grades["grade_a__severity"] == "low" and grades["grade_b__helpfulness"] == 2
