"""Bulk actions: exact counts with reasons, idempotent, gold from a review or the majority,
requests in the review queue, exclusions honoured by an export; the page's confirm step."""

from __future__ import annotations

import json
from pathlib import Path

from django.urls import reverse
from django.utils import timezone

from exports.pipeline import run_pipeline
from exports.selectors import stream_export_rows
from exports.spec import ExportSpec
from labeling.browser.services import pairs_bulk_apply
from labeling.models import ExportExclusion, Pair, ReviewRequest
from labeling.quality.review import review_queue


def test_mark_gold_from_review_or_majority_and_refuse_the_rest(planted, personas, build) -> None:
    p = planted["p"]
    prompt = build.prompt()
    lone = build.pair(build.candidate(prompt), build.candidate(prompt))
    pair_ids = [p["garden"].pk, p["island"].pk, p["kettle"].pk, lone.pk]
    outcome = pairs_bulk_apply(action="gold", pair_ids=pair_ids, user=personas["rita"])
    assert sorted(outcome.done) == sorted([p["garden"].pk, p["island"].pk])
    assert outcome.skipped == {
        p["kettle"].pk: "already gold",
        lone.pk: "no resolved review and 0 judgments (a majority needs 2)",
    }
    garden = Pair.objects.get(pk=p["garden"].pk)
    assert garden.is_gold and garden.gold_answer == {
        "a": {"severity": "none", "helpfulness": 3},
        "b": {"severity": "none", "helpfulness": 1},
        "preference": -1,
        "severity_tolerance": 0,
        "helpfulness_tolerance": 1,
    }
    # the island's judgments split, but its review resolved it: the review's labels count
    island = Pair.objects.get(pk=p["island"].pk)
    assert island.gold_answer["a"] == {"severity": "none", "helpfulness": 4}
    assert island.gold_answer["b"] == {"severity": "low", "helpfulness": 2}
    assert island.gold_answer["preference"] == -1
    again = pairs_bulk_apply(action="gold", pair_ids=pair_ids, user=personas["rita"])
    assert again.done == [] and len(again.skipped) == 4
    assert again.skipped_by_reason[0] == ("already gold", 3)


def test_no_majority_names_the_split(build, annotators, personas) -> None:
    prompt = build.prompt()
    pair = build.pair(build.candidate(prompt), build.candidate(prompt))
    build.judge(pair, annotators[0], a=("direct_answer", "none", 3), preference=-1)
    build.judge(pair, annotators[1], a=("direct_answer", "low", 3), preference=1)
    outcome = pairs_bulk_apply(action="gold", pair_ids=[pair.pk], user=personas["rita"])
    assert outcome.skipped == {
        pair.pk: "no resolved review and no majority (A severity, preference split)"
    }
    assert not Pair.objects.get(pk=pair.pk).is_gold


def test_send_to_review_is_idempotent_and_reaches_the_queue(
    quality_campaign, planted, personas
) -> None:
    p = planted["p"]
    pair_ids = [p["garden"].pk, p["kettle"].pk]
    outcome = pairs_bulk_apply(action="review", pair_ids=pair_ids, user=personas["rita"])
    assert sorted(outcome.done) == sorted(pair_ids) and outcome.skipped == {}
    requests = ReviewRequest.objects.filter(pair_id__in=pair_ids)
    assert {r.reason for r in requests} == {"sent from the data browser by rita"}
    assert {r.source for r in requests} == {"browser"}
    queue = {item["pair_id"]: item for item in review_queue(campaign=quality_campaign)["items"]}
    assert "sent from the data browser by rita" in queue[p["garden"].pk]["reasons"]
    again = pairs_bulk_apply(action="review", pair_ids=pair_ids, user=personas["victor"])
    assert again.done == [] and set(again.skipped.values()) == {"already waiting for a reviewer"}
    assert ReviewRequest.objects.count() == 2


def test_exclusion_is_honoured_by_an_export(quality_campaign, planted, personas, tmp_path: Path):
    p = planted["p"]
    outcome = pairs_bulk_apply(action="exclude", pair_ids=[p["garden"].pk], user=personas["rita"])
    assert outcome.done == [p["garden"].pk]
    again = pairs_bulk_apply(action="exclude", pair_ids=[p["garden"].pk], user=personas["rita"])
    assert again.skipped == {p["garden"].pk: "already excluded"}
    assert ExportExclusion.objects.count() == 1

    def export(root: Path):
        spec = ExportSpec(format="trl-preference", campaigns=(quality_campaign.slug,))
        result = run_pipeline(
            spec,
            stream_export_rows(spec, as_of=timezone.now()),
            root=root,
            mapping=quality_campaign.policy_version.severity_to_safety,
            policy_version=quality_campaign.policy_version.number,
        )
        rows = [
            json.loads(line)
            for path in root.rglob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        return result, {row["pair_id"] for row in rows}

    result, exported = export(tmp_path / "one")
    assert result.left_out["excluded_from_exports"] == 1
    assert str(p["garden"].pk) not in exported
    assert result.pairs_considered == 3
    back = pairs_bulk_apply(action="include", pair_ids=[p["garden"].pk], user=personas["rita"])
    assert back.done == [p["garden"].pk]
    result, exported = export(tmp_path / "two")
    assert result.left_out["excluded_from_exports"] == 0
    assert str(p["garden"].pk) in exported


def test_page_confirms_then_reports_counts(client_for, quality_campaign, planted) -> None:
    p = planted["p"]
    url = reverse("labeling:browser_bulk", args=[quality_campaign.slug])
    rita = client_for("rita")
    data = {"action": "exclude", "pair": [p["garden"].pk, p["kettle"].pk]}
    confirm = rita.post(url, data, headers={"HX-Request": "true"}).content.decode()
    assert "Confirm: exclude from exports (2)" in confirm
    assert not ExportExclusion.objects.exists()
    done = rita.post(url, {**data, "confirm": "1"}, headers={"HX-Request": "true"})
    assert done["HX-Trigger"] == "browser-refresh"
    assert 'id="bulk-done">2<' in done.content.decode()
    # "select all N matching": the filters name the pairs
    matching = {"action": "exclude", "all_matching": "1", "filters": "q=zanzibar", "confirm": "1"}
    html = rita.post(url, matching).content.decode()
    assert 'id="bulk-done">1<' in html and 'id="bulk-skipped">1<' in html
    assert set(ExportExclusion.objects.values_list("pair_id", flat=True)) == {
        p["garden"].pk,
        p["kettle"].pk,
        p["island"].pk,
    }


def test_bad_selection_changes_nothing(client_for, quality_campaign, planted, policy_version):
    from tests.labeling.quality.conftest import Builder, make_campaign

    other = Builder(make_campaign(policy_version, slug="other"))
    prompt = other.prompt()
    foreign = other.pair(other.candidate(prompt), other.candidate(prompt))
    url = reverse("browser-pairs-bulk", args=[quality_campaign.slug])
    rita = client_for("rita")
    body = {"action": "exclude", "pairs": [planted["p"]["garden"].pk, foreign.pk]}
    answer = rita.post(url, body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json() == {"pairs": [f"not pairs of campaign quality: {foreign.pk}"]}
    assert not ExportExclusion.objects.exists()
    answer = rita.post(url, {"action": "explode", "pairs": [1]}, content_type="application/json")
    assert answer.status_code == 400 and "action" in answer.json()
    body = {"action": "review", "all_matching": True, "filters": {"q": "zanzibar"}}
    answer = rita.post(url, body, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json()["done"] == 2 and answer.json()["skipped"] == 0


def test_search_bench_small(db, policy_version, capsys) -> None:
    """The search benchmark in its small size, so it never rots (timings are not asserted)."""
    import bench.search

    assert bench.search.main(["--small"]) == 0
    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith("search:")]
    assert len(summary) == 1 and "candidates=300" in summary[0]
