"""Routing on the database: the claim serves pairs in the order of the planted grades on both
claim paths, pairs accepted as AI labels never reach humans (except the spot check, whose
counts are exact), the human budget stops claims at exactly its number under concurrency,
and the settings are refused field by field when wrong."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from labeling.annotation import services
from labeling.campaigns.services import campaign_create, campaign_update
from labeling.models import Campaign, Judgment, Pair
from labeling.routing.priority import spot_check_key
from labeling.routing.selectors import routing_summary
from labeling.routing.services import routing_recompute
from tests.labeling.annotation.factories import build_pairs, ensure_roles, payload
from tests.labeling.annotation.test_contention import PAIRS, WORKERS, K, _run_wave

from .conftest import plant_candidate, plant_pair

# Confidence of each planted pair (both orders); None: left ungraded.
PLANTED = [1.0, 0.4, None, 0.9, 1 / 3, 0.7, None, 1.0]
# rank = round(1000 × 2 × (1 − confidence)) − 250 (two orders); ungraded pairs 0.
EXPECTED_RANKS = [-250, 950, 0, -50, 1083, 350, 0, -250]


@pytest.fixture(params=["postgres", "orm"])
def claim_path(request, monkeypatch):
    if request.param == "orm":
        monkeypatch.setattr(services, "one_statement_round_trip", lambda: False)
    return request.param


@pytest.fixture
def routed(policy_version, grader_version):
    campaign = campaign_create(
        name="Routed", slug="routed", policy_version=policy_version, judgments_per_pair=1,
        open_now=True, routing=Campaign.Routing.GRADER_FIRST,
        routing_grader=grader_version.grader,
    )  # fmt: skip
    pairs = build_pairs(campaign, len(PLANTED))
    for pair, confidence in zip(pairs, PLANTED, strict=True):
        if confidence is not None:
            plant_pair(grader_version, pair, confidence=confidence)
    routing_recompute(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign, pairs


def _claim_order(campaign, user, *, preference: int = 1) -> list[int]:
    """Claim and judge until nothing is served; the pairs in the order served."""
    served = []
    result = services.assignment_claim(campaign=campaign, annotator=user)
    while result.assignment is not None:
        served.append(result.assignment.pair_id)
        _judgment, _created, result = services.judgment_submit_and_claim_next(
            assignment_id=result.assignment.pk,
            annotator=user,
            campaign=campaign,
            data=payload(preference=preference, rationale="compared both"),
        )
    return served


def test_claim_order_follows_the_planted_ranks(routed, claim_path, personas, grader_version):
    campaign, pairs = routed
    ranks = dict(Pair.objects.filter(campaign=campaign).values_list("id", "route_rank"))
    assert [ranks[pair.pk] for pair in pairs] == EXPECTED_RANKS
    assert campaign.routed_version == grader_version
    # Highest rank first; equal ranks in today's order (closest to completion, then oldest).
    order = sorted(range(len(pairs)), key=lambda index: (-EXPECTED_RANKS[index], index))
    expected = [pairs[index].pk for index in order]
    assert _claim_order(campaign, personas["anna"]) == expected


def test_uniform_routing_puts_every_rank_back_to_zero(routed, claim_path, personas):
    campaign, pairs = routed
    campaign_update(campaign=campaign, routing=Campaign.Routing.UNIFORM, routing_grader=None)
    routing_recompute(campaign_id=campaign.pk)
    assert set(Pair.objects.filter(campaign=campaign).values_list("route_rank", flat=True)) == {0}
    assert _claim_order(campaign, personas["anna"]) == [pair.pk for pair in pairs]


def test_several_graders_disagreeing_raise_a_pair(routed, grading_endpoint, policy_version):
    from labeling.grading.services import grader_create

    campaign, pairs = routed
    other = grader_create(
        name="second-opinion", endpoint=grading_endpoint, policy_version=policy_version
    )
    for pair in pairs:
        # Agrees everywhere except on the first pair, where it prefers the other side fully.
        plant_pair(other, pair, preferences=(2, 2) if pair == pairs[0] else (0, 0))
    routing_recompute(campaign_id=campaign.pk)
    first = Pair.objects.get(pk=pairs[0].pk)
    assert first.route_rank == round(1000 * 2 / 4) - 250


def test_candidate_grades_weigh_severity_and_doubt(routed, grader_version):
    campaign, pairs = routed
    sure = pairs[0]
    plant_candidate(grader_version, sure.candidate_a, confidence=1.0, severity="high")
    plant_candidate(grader_version, sure.candidate_b, confidence=2 / 3, severity="none")
    routing_recompute(campaign_id=campaign.pk)
    assert Pair.objects.get(pk=sure.pk).route_rank == round(1000 * (1 / 3) * 2) - 250


def test_acceptance_and_spot_check_counts_are_exact(policy_version, grader_version, personas):
    campaign = campaign_create(
        name="Accepting", slug="accepting", policy_version=policy_version, judgments_per_pair=1,
        open_now=True, routing=Campaign.Routing.GRADER_FIRST,
        routing_grader=grader_version.grader, accept_confidence=0.9, spot_check_share=0.2,
    )  # fmt: skip
    pairs = build_pairs(campaign, 40)
    confident, unsure = pairs[:30], pairs[30:]
    for index, pair in enumerate(confident):
        # Even pairs: the grader calls them equal; odd ones: B clearly better.
        plant_pair(grader_version, pair, preferences=(0, 0) if index % 2 == 0 else (2, 2))
    for pair in unsure[:5]:
        plant_pair(grader_version, pair, confidence=0.6)
    for pair in unsure[5:]:
        plant_pair(grader_version, pair, preferences=(1, -1))  # inconsistent across orders
    figures = routing_recompute(campaign_id=campaign.pk)
    spot = set(sorted((pair.pk for pair in confident), key=spot_check_key)[:6])
    assert figures["accepted"] == 24 and figures["spot_checked"] == 6
    assert set(Pair.objects.filter(spot_check=True).values_list("id", flat=True)) == spot
    accepted = set(Pair.objects.filter(ai_accepted=True).values_list("id", flat=True))
    assert accepted == {pair.pk for pair in confident} - spot
    # Recomputing draws the same pairs.
    assert routing_recompute(campaign_id=campaign.pk)["changed"] == 0

    served = _claim_order(campaign, personas["anna"], preference=0)
    assert len(served) == 16 and not set(served) & accepted
    assert set(served) == spot | {pair.pk for pair in unsure}
    # Every served pair was judged "about equal": humans agree on the spot checks the grader
    # called equal, not on those where it said B is clearly better.
    summary = routing_summary(campaign=Campaign.objects.get(pk=campaign.pk))
    equal_spot = {pair.pk for index, pair in enumerate(confident) if index % 2 == 0} & spot
    assert summary.accepted == 24 and summary.spot_checked == 6
    assert summary.spot_checks_finished == 6
    assert summary.spot_checks_agreed == len(equal_spot)
    assert summary.human_judgments == 16


def test_gold_pairs_are_never_accepted_or_ranked(policy_version, grader_version):
    campaign = campaign_create(
        name="Gold", slug="gold-routed", policy_version=policy_version, open_now=True,
        routing=Campaign.Routing.GRADER_FIRST, routing_grader=grader_version.grader,
        accept_confidence=0.5, spot_check_share=0,
    )  # fmt: skip
    gold, ordinary = build_pairs(campaign, 2, gold=1)
    plant_pair(grader_version, gold, confidence=0.2)
    plant_pair(grader_version, ordinary)
    routing_recompute(campaign_id=campaign.pk)
    gold.refresh_from_db()
    ordinary.refresh_from_db()
    assert (gold.route_rank, gold.ai_accepted) == (0, False)
    assert ordinary.ai_accepted


BUDGET = 7
BUDGET_ANNOTATORS = 12


@pytest.mark.django_db(transaction=True)
def test_budget_stops_claims_exactly_at_the_budget_under_concurrency(
    policy_version, make_annotators, claim_path
):
    ensure_roles()
    campaign = campaign_create(
        name="Budget", slug=f"budget-{claim_path}", policy_version=policy_version,
        judgments_per_pair=2, open_now=True, human_budget=BUDGET,
    )  # fmt: skip
    build_pairs(campaign, 20)
    users = make_annotators(BUDGET_ANNOTATORS, prefix=f"budget-{claim_path}-")
    barrier = threading.Barrier(len(users))
    reasons: list[str] = []
    errors: list[str] = []

    def work(user):
        try:
            barrier.wait(timeout=30)
            result = services.assignment_claim(campaign=campaign, annotator=user)
            while result.assignment is not None:
                _judgment, _created, result = services.judgment_submit_and_claim_next(
                    assignment_id=result.assignment.pk,
                    annotator=user,
                    campaign=campaign,
                    data=payload(),
                )
            reasons.append(result.reason)
        except Exception as error:  # noqa: BLE001 - reported to the main thread
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert Judgment.objects.filter(pair__campaign=campaign).count() == BUDGET
    assert reasons == ["budget"] * BUDGET_ANNOTATORS
    summary = routing_summary(campaign=campaign)
    assert (summary.budget_used, summary.budget_left) == (BUDGET, 0)


@pytest.mark.django_db(transaction=True)
def test_contention_under_grader_first_gives_every_pair_exactly_k(
    policy_version, grader_version, make_annotators, claim_path
):
    from django.db.models import Count

    campaign = campaign_create(
        name="Contention routed", slug=f"contention-routed-{claim_path}",
        policy_version=policy_version, judgments_per_pair=K, open_now=True,
        routing=Campaign.Routing.GRADER_FIRST, routing_grader=grader_version.grader,
    )  # fmt: skip
    pairs = build_pairs(campaign, PAIRS)
    for index, pair in enumerate(pairs):
        plant_pair(grader_version, pair, confidence=(index % 5 + 1) / 5)
    routing_recompute(campaign_id=campaign.pk)
    assert len(set(Pair.objects.values_list("route_rank", flat=True))) == 5
    users = make_annotators(WORKERS, prefix=f"routed-{claim_path}-")
    results = _run_wave(campaign, users, **{users[0].username: {"skip_every": 2}})
    counts = Judgment.objects.values("pair").annotate(n=Count("id")).values_list("n", flat=True)
    submitted = [row for row in results if row[0] == "submitted"]
    assert len(counts) == PAIRS and set(counts) == {K}
    assert Judgment.objects.count() == PAIRS * K == len(submitted)
    for _kind, _user, _pair, outcomes in submitted:
        assert sum(created for _pk, created in outcomes) == 1
