"""Live dashboards: the pre-aggregates give the figures of a scan of the judgments, and every
write moves them in its own transaction, so a page shows a judgment the moment it exists."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.urls import reverse

from labeling.models import Campaign, Judgment, Pair
from labeling.quality import dashboards
from labeling.quality.aggregates import dashboard_aggregates_rebuild, rating_counts_aggregated
from labeling.quality.gold import gold_accuracy_by_annotator, pair_gold_clear, pair_gold_set
from labeling.quality.review import prompt_correct
from policy.rubric import HELPFULNESS_GRADES, INTENTS, RESPONSE_MODES, SEVERITY_LEVELS

from .conftest import Builder, make_campaign

GOLD = {
    "a": {"severity": "none", "helpfulness": 3},
    "b": {"severity": "low", "helpfulness": 2},
    "preference": -1,
    "severity_tolerance": 1,
    "helpfulness_tolerance": 1,
}


def _side(rng: random.Random) -> tuple[str, str, int]:
    return (rng.choice(RESPONSE_MODES), rng.choice(SEVERITY_LEVELS), rng.choice(HELPFULNESS_GRADES))


def _seed(build: Builder, raters: list[User], rng: random.Random, prompts: int = 6) -> list[Pair]:
    """Prompts with four candidates (two styles, two models, one model left empty so the
    source names it), every pair judged by two or three raters with random values."""
    pairs = []
    for index in range(prompts):
        prompt = build.prompt(
            category=["biology/low-risk-dual-use", "chemistry/dual-use"][index % 2],
            intent=INTENTS[index % len(INTENTS)],
        )
        candidates = [
            build.candidate(prompt, style=style, model=model)
            for style in ("", "safe")
            for model in ("m1", "m2")
        ]
        candidates[0].model = ""
        candidates[0].save(update_fields=["model"])
        for first in range(len(candidates)):
            for second in range(first + 1, len(candidates)):
                pair = build.pair(candidates[first], candidates[second])
                for rater in rng.sample(raters, rng.choice((2, 3))):
                    build.judge(
                        pair,
                        rater,
                        a=_side(rng),
                        b=_side(rng),
                        preference=rng.randint(-2, 2),
                        left_is_a=rng.random() < 0.5,
                        time_on_task_ms=rng.choice((None, *range(900, 4000, 7))),
                    )
                pairs.append(pair)
    return pairs


def _approx(rows: list[dict]) -> list[dict]:
    return [
        {k: (pytest.approx(v, abs=1e-9) if isinstance(v, float) else v) for k, v in row.items()}
        for row in rows
    ]


def assert_live_equals_scan(campaign: Campaign) -> None:
    """Every table from the pre-aggregates equals the same table from a scan."""
    assert sorted(rating_counts_aggregated(campaign=campaign)) == sorted(
        dashboards.rating_counts_scanned(campaign=campaign)
    )
    assert dashboards.frame_records(dashboards.annotators_aggregated(campaign=campaign)) == _approx(
        dashboards.frame_records(dashboards.annotators_scanned(campaign=campaign))
    )


@pytest.fixture
def raters(personas, annotators) -> list[User]:
    return [personas["anna"], personas["ben"], *annotators]


def test_live_figures_equal_the_scan_through_every_kind_of_write(
    build: Builder, raters, personas
) -> None:
    rng = random.Random(7)
    pairs = _seed(build, raters, rng)
    campaign = build.campaign
    assert_live_equals_scan(campaign)

    # gold answers set, changed and cleared rescore the pairs' judgments
    for pair in pairs[::3]:
        pair_gold_set(pair=pair, answer=GOLD)
    pair_gold_set(pair=pairs[3], answer={**GOLD, "preference": 0, "severity_tolerance": 0})
    pair_gold_clear(pair=pairs[6])
    assert_live_equals_scan(campaign)
    live = {
        row["annotator"]: row
        for row in dashboards.frame_records(dashboards.annotators_aggregated(campaign=campaign))
    }
    for row in gold_accuracy_by_annotator(campaign=campaign):
        assert live[row["annotator"]]["gold_judgments"] == row["gold_judgments"]
        assert live[row["annotator"]]["gold_accuracy"] == pytest.approx(row["accuracy"])

    # edits (one statement for many rows, as a bulk update), deletes, prompt corrections
    Judgment.objects.filter(pair__in=pairs[:4]).update(
        b_severity="high", preference=2, left_is_a=False
    )
    Judgment.objects.filter(pair=pairs[5], annotator=personas["anna"]).delete()
    Judgment.objects.filter(pair__in=pairs[7:9]).delete()
    prompt_correct(
        prompt=pairs[0].prompt,
        changed_by=personas["victor"],
        category_path="chemistry/dual-use",
        intent="malicious",
        reason="wrong area",
    )
    assert_live_equals_scan(campaign)

    # rebuilding from the judgments finds the same sums the triggers kept
    totals = (
        "SELECT campaign_id, annotator_id, judgments, time_on_task_total_ms,"
        " time_on_task_judgments, left_wins, decided, gold_judgments, gold_passed, peer_couples,"
        " peer_same_direction, peer_same_severity FROM labeling_dashboardannotatortotal"
        " WHERE judgments <> 0 ORDER BY campaign_id, annotator_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(totals)
        kept = cursor.fetchall()
        dashboard_aggregates_rebuild()
        cursor.execute(totals)
        assert cursor.fetchall() == kept
    assert_live_equals_scan(campaign)


def test_campaigns_do_not_mix_and_a_deleted_campaign_leaves_nothing(
    build: Builder, raters, policy_version
) -> None:
    rng = random.Random(3)
    _seed(build, raters, rng, prompts=2)
    other = Builder(make_campaign(policy_version, slug="other"))
    _seed(other, raters, rng, prompts=3)
    assert_live_equals_scan(build.campaign)
    assert_live_equals_scan(other.campaign)
    other_id = other.campaign.pk
    other.campaign.delete()
    with connection.cursor() as cursor:
        for table in ("labeling_dashboardratingcount", "labeling_dashboardannotatortotal"):
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE campaign_id = %s", [other_id])  # noqa: S608
            assert cursor.fetchone() == (0,)
    assert_live_equals_scan(build.campaign)


def test_a_new_judgment_shows_on_every_page_at_once(client_for, build: Builder, personas) -> None:
    prompt = build.prompt(intent="malicious")
    pair = build.pair(
        build.candidate(prompt, style="refusal", model="m"),
        build.candidate(prompt, style="safe", model="m"),
    )
    build.judge(pair, personas["anna"], b=("safe_completion", "none", 4), time_on_task_ms=2000)
    rita = client_for("rita")
    campaign = build.campaign

    def safe_share() -> float:
        body = rita.get(
            f"/api/v1/quality/campaigns/{campaign.slug}/dashboards/safety_by_intent/"
        ).json()
        return next(row for row in body["rows"] if row["style"] == "safe")["safe_share"]

    def page(view: str) -> str:
        response = rita.get(
            reverse("labeling:dashboards"), {"campaign": campaign.slug, "view": view}
        )
        assert response.status_code == 200
        return response.content.decode()

    assert safe_share() == 1.0
    assert "every judgment up to then (1;" in page("safety")
    csv_before = rita.get(
        reverse("labeling:dashboard_csv", args=["annotators"]), {"campaign": campaign.slug}
    ).content.decode()
    assert "ben" not in csv_before

    build.judge(pair, personas["ben"], b=("direct_answer", "high", 4), time_on_task_ms=6000)

    assert safe_share() == 0.5
    assert "every judgment up to then (2;" in page("safety")
    assert "every judgment up to then (2;" in page("annotators")
    csv_after = rita.get(
        reverse("labeling:dashboard_csv", args=["annotators"]), {"campaign": campaign.slug}
    ).content.decode()
    assert "ben" in csv_after
    rows = dashboards.frame_records(dashboards.annotators(campaign=campaign))
    assert [row["median_time_on_task_s"] for row in rows] == [2.0, 6.0]


def test_dashboard_page_queries_do_not_grow_with_the_campaign(
    client_for, build: Builder, raters, django_assert_max_num_queries
) -> None:
    """A dashboard page reads the pre-aggregates: the same few queries at any size."""
    _seed(build, raters, random.Random(5), prompts=1)
    rita = client_for("rita")
    url = reverse("labeling:dashboards")
    counts = {}
    for size in ("small", "larger"):
        for view in ("safety", "modes", "annotators"):
            with django_assert_max_num_queries(20) as captured:
                rita.get(url, {"campaign": build.campaign.slug, "view": view})
            counts[(size, view)] = len(captured)
        _seed(build, raters, random.Random(6), prompts=4)
    for view in ("safety", "modes", "annotators"):
        assert counts[("small", view)] == counts[("larger", view)]


@pytest.mark.django_db(transaction=True)
def test_annotators_judging_the_same_pairs_at_once_count_every_couple_once(
    policy_version, annotators, personas
) -> None:
    """Six annotators judge the same pairs at the same moment, each judgment in its own
    transaction that stays open a little after the insert: the trigger's pair lock makes the
    later one see the earlier, so agreement with peers still equals the scan."""
    build = Builder(make_campaign(policy_version, slug="at-once"))
    raters = [personas["anna"], personas["ben"], *annotators]
    prompt = build.prompt()
    candidates = [build.candidate(prompt, style="s", model=f"m{i}") for i in range(4)]
    pairs = [build.pair(candidates[i], candidates[j]) for i in range(4) for j in range(i + 1, 4)]
    barrier = threading.Barrier(len(raters))
    errors: list[str] = []

    def judge_all(rater: User, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for pair in pairs:
                barrier.wait(timeout=30)
                with transaction.atomic():
                    build.judge(
                        pair, rater, a=_side(rng), b=_side(rng), preference=rng.randint(-2, 2)
                    )
                    time.sleep(0.01)
        except Exception as error:  # noqa: BLE001 - reported to the main thread
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=judge_all, args=(rater, seed)) for seed, rater in enumerate(raters)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert Judgment.objects.count() == len(pairs) * len(raters)
    assert_live_equals_scan(build.campaign)
    couples = sum(
        row["peer_couples"]
        for row in dashboards.frame_records(dashboards.annotators(campaign=build.campaign))
    )
    assert couples == len(pairs) * len(raters) * (len(raters) - 1)
