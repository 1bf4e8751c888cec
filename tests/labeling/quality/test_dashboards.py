"""Dashboards: numbers against hand-computed fixtures, CSV downloads, charts, roles."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from labeling.models import Judgment, Prompt
from labeling.quality.dashboards import dashboard_tables, frame_records

from .conftest import Builder

NONE_ = None


@pytest.fixture
def dash(build: Builder, personas):
    """Two prompts (benign biology, malicious chemistry), a refusal-style and a
    safe-completion-style candidate each, judged by anna and ben (see the hand figures)."""
    anna, ben = personas["anna"], personas["ben"]
    p1 = build.prompt(category="biology/low-risk-dual-use", intent="benign")
    p2 = build.prompt(category="chemistry/dual-use", intent="malicious")
    c1 = build.candidate(p1, style="refusal", model="m1")
    c2 = build.candidate(p1, style="safe", model="m1")
    c3 = build.candidate(p2, style="refusal", model="m1")
    c4 = build.candidate(p2, style="safe", model="m1")
    pair1, pair2 = build.pair(c1, c2), build.pair(c3, c4)
    build.judge(
        pair1,
        anna,
        a=("hard_refusal", "none", 1),
        b=("safe_completion", "none", 4),
        preference=2,
        time_on_task_ms=1000,
    )
    build.judge(
        pair1,
        ben,
        a=("hard_refusal", "none", 2),
        b=("safe_completion", "low", 3),
        preference=1,
        time_on_task_ms=4000,
    )
    build.judge(
        pair2,
        anna,
        a=("hard_refusal", "none", 1),
        b=("safe_completion", "moderate", 3),
        preference=-1,
        time_on_task_ms=3000,
    )
    build.judge(
        pair2,
        ben,
        a=("refusal_with_redirection", "none", 3),
        b=("direct_answer", "high", 4),
        preference=-2,
        time_on_task_ms=6000,
    )
    return build.campaign


def rows(campaign, slug: str, table: str) -> list[dict]:
    return frame_records(dashboard_tables(campaign=campaign, slug=slug)[table])


def approx_rows(expected: list[dict]) -> list[dict]:
    return [
        {k: (pytest.approx(v, abs=1e-9) if isinstance(v, float) else v) for k, v in row.items()}
        for row in expected
    ]


def test_safe_completion_figures_by_intent(dash) -> None:
    got = rows(dash, "safety", "safety_by_intent")
    base = {
        "unsafe_negligible": None,
        "unsafe_low": None,
        "unsafe_moderate": None,
        "unsafe_high": None,
    }
    assert got == approx_rows(
        [
            {
                "intent": "benign",
                "style": "refusal",
                "model": "m1",
                "ratings": 2,
                "safe_share": 1.0,
                "mean_helpfulness_safe": 1.5,
                "unsafe": 0,
                **base,
            },
            {
                "intent": "benign",
                "style": "safe",
                "model": "m1",
                "ratings": 2,
                "safe_share": 0.5,
                "mean_helpfulness_safe": 4.0,
                "unsafe": 1,
                "unsafe_negligible": 0.0,
                "unsafe_low": 1.0,
                "unsafe_moderate": 0.0,
                "unsafe_high": 0.0,
            },
            {
                "intent": "malicious",
                "style": "refusal",
                "model": "m1",
                "ratings": 2,
                "safe_share": 1.0,
                "mean_helpfulness_safe": 2.0,
                "unsafe": 0,
                **base,
            },
            {
                "intent": "malicious",
                "style": "safe",
                "model": "m1",
                "ratings": 2,
                "safe_share": 0.0,
                "mean_helpfulness_safe": None,
                "unsafe": 2,
                "unsafe_negligible": 0.0,
                "unsafe_low": 0.0,
                "unsafe_moderate": 0.5,
                "unsafe_high": 0.5,
            },
        ]
    )
    by_category = rows(dash, "safety", "safety_by_category")
    assert [(r["category"], r["style"], r["safe_share"]) for r in by_category] == [
        ("biology/low-risk-dual-use", "refusal", 1.0),
        ("biology/low-risk-dual-use", "safe", 0.5),
        ("chemistry/dual-use", "refusal", 1.0),
        ("chemistry/dual-use", "safe", 0.0),
    ]


def test_modes_and_reward(dash) -> None:
    modes = rows(dash, "modes", "modes_by_intent")
    zero = {
        "direct_answer": 0.0,
        "safe_completion": 0.0,
        "refusal_with_redirection": 0.0,
        "hard_refusal": 0.0,
        "other": 0.0,
    }
    assert modes == approx_rows(
        [
            {
                "intent": "benign",
                "style": "refusal",
                "model": "m1",
                "ratings": 2,
                **zero,
                "hard_refusal": 1.0,
            },
            {
                "intent": "benign",
                "style": "safe",
                "model": "m1",
                "ratings": 2,
                **zero,
                "safe_completion": 1.0,
            },
            {
                "intent": "malicious",
                "style": "refusal",
                "model": "m1",
                "ratings": 2,
                **zero,
                "hard_refusal": 0.5,
                "refusal_with_redirection": 0.5,
            },
            {
                "intent": "malicious",
                "style": "safe",
                "model": "m1",
                "ratings": 2,
                **zero,
                "safe_completion": 0.5,
                "direct_answer": 0.5,
            },
        ]
    )
    reward = rows(dash, "modes", "reward_by_style_model")
    # refusal: r = 0, 1/3, 0, 2/3; safe: r = 1, 2/3 * 0.5, 2/3 * 0.2, 1 * 0
    assert reward == approx_rows(
        [
            {
                "style": "refusal",
                "model": "m1",
                "ratings": 4,
                "mean_s": 1.0,
                "mean_h": 0.25,
                "mean_r": 0.25,
            },
            {
                "style": "safe",
                "model": "m1",
                "ratings": 4,
                "mean_s": 0.425,
                "mean_h": 5 / 6,
                "mean_r": (1 + 1 / 3 + 2 / 15) / 4,
            },
        ]
    )


def test_annotator_table(dash) -> None:
    got = {row["annotator"]: row for row in rows(dash, "annotators", "annotators")}
    anna, ben = got["anna"], got["ben"]
    assert anna["judgments"] == 2 and ben["judgments"] == 2
    assert anna["mean_time_on_task_s"] == pytest.approx(2.0)
    assert anna["median_time_on_task_s"] == pytest.approx(2.0)
    assert ben["mean_time_on_task_s"] == pytest.approx(5.0)
    assert anna["active_hours"] >= 1
    assert anna["judgments_per_active_hour"] == pytest.approx(2 / anna["active_hours"])
    # both pairs: same preference direction, different severity on B
    assert anna["peer_couples"] == 2
    assert anna["peer_same_direction"] == 1.0
    assert anna["peer_same_severity"] == 0.0
    assert anna["left_win_share"] == 0.5
    assert anna["gold_judgments"] == 0 and anna["gold_accuracy"] is None
    assert anna["gold_flagged"] is False


def test_dashboard_page_embeds_chart_data_and_links_csv(client_for, dash) -> None:
    for slug in ("safety", "modes", "annotators"):
        page = client_for("rita").get(
            reverse("labeling:dashboards"), {"campaign": dash.slug, "view": slug}
        )
        assert page.status_code == 200
        html = page.content.decode()
        assert '<script id="dashboard-charts" type="application/json">' in html
        start = html.index('type="application/json">') + len('type="application/json">')
        charts = json.loads(html[start : html.index("</script>", start)])
        assert charts and all(chart["datasets"] for chart in charts)
        assert "vendor/chartjs/chart.umd.js" in html
        assert reverse("labeling:dashboard_csv", args=["annotators"]) in html or slug != (
            "annotators"
        )
    safety = client_for("victor").get(reverse("labeling:dashboards"), {"campaign": dash.slug})
    charts = json.loads(
        safety.content.decode().split('type="application/json">')[1].split("</script>")[0]
    )
    safe_share = next(chart for chart in charts if chart["id"] == "safe_share")
    assert safe_share["labels"] == ["Benign", "Malicious"]  # the rubric's labels
    assert {d["label"]: d["data"] for d in safe_share["datasets"]} == {
        "refusal · m1": [1.0, 1.0],
        "safe · m1": [0.5, 0.0],
    }


def test_csv_download_matches_and_neutralises_formulas(client_for, dash) -> None:
    Prompt.objects.filter(campaign=dash, intent="malicious").update(
        category_path='=HYPERLINK("http://evil")'
    )
    response = client_for("rita").get(
        reverse("labeling:dashboard_csv", args=["safety_by_category"]), {"campaign": dash.slug}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(table) == 4
    categories = {row["category"] for row in table}
    assert '\'=HYPERLINK("http://evil")' in categories
    assert not any(value.startswith("=") for row in table for value in row.values())
    refusal = next(r for r in table if r["style"] == "refusal" and r["category"].startswith("bio"))
    assert float(refusal["mean_helpfulness_safe"]) == 1.5
    assert (
        client_for("rita")
        .get(reverse("labeling:dashboard_csv", args=["nope"]), {"campaign": dash.slug})
        .status_code
        == 404
    )


def test_dashboard_api(client_for, dash) -> None:
    response = client_for("alice").get(
        f"/api/v1/quality/campaigns/{dash.slug}/dashboards/reward_by_style_model/"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["columns"][:3] == ["style", "model", "ratings"]
    assert body["rows"][0]["mean_r"] == pytest.approx(0.25)


def test_empty_campaign_dashboards(client_for, quality_campaign) -> None:
    for slug in ("safety", "modes", "annotators"):
        page = client_for("rita").get(
            reverse("labeling:dashboards"), {"campaign": quality_campaign.slug, "view": slug}
        )
        assert page.status_code == 200
        assert b"No judgments yet." in page.content
    assert Judgment.objects.count() == 0


def test_bench_small_mode_runs(db) -> None:
    """The benchmark in its small size, so it never rots (timings are not asserted)."""
    from bench.dashboards import main

    assert main(["--small"]) == 0
