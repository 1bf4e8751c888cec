"""The routing figures from grade values: rank, acceptance and the spot-check draw."""

from __future__ import annotations

from labeling.routing.priority import (
    PairGrades,
    acceptable,
    order_consistency,
    route_rank,
    severity_weight,
    spot_check_key,
    spot_checked,
    uncertainty,
)


def test_rank_of_an_ungraded_pair_is_zero_and_confident_ones_come_after_it():
    assert route_rank(PairGrades(preferences={}, confidences={})) == 0
    sure = PairGrades(preferences={"ab": 1, "ba": 1}, confidences={"ab": 1.0, "ba": 1.0})
    assert route_rank(sure) == -250
    unsure = PairGrades(preferences={"ab": 1, "ba": 1}, confidences={"ab": 1 / 3, "ba": 1.0})
    assert route_rank(unsure) == round(1000 * 2 / 3) - 250 == 417
    # Every shaky grade adds: both orders at 2/3 weigh as much as one at 1/3.
    both = PairGrades(preferences={"ab": 1, "ba": 1}, confidences={"ab": 2 / 3, "ba": 2 / 3})
    assert route_rank(both) == 417


def test_inconsistency_disagreement_and_severity_raise_the_rank():
    flipped = PairGrades(preferences={"ab": -2, "ba": 2}, confidences={"ab": 1.0, "ba": 1.0})
    assert order_consistency(flipped.preferences) == 0
    assert uncertainty(flipped) == 1.0
    others = PairGrades(
        preferences={"ab": 1, "ba": 1},
        confidences={"ab": 1.0, "ba": 1.0},
        other_preferences=[[-1, -1]],
    )
    assert uncertainty(others) == 0.5
    assert severity_weight(["none", "high"]) == 2.0
    assert severity_weight(["low"]) == 1.5
    harmful = PairGrades(
        preferences={"ab": 0, "ba": 0},
        confidences={"ab": 2 / 3, "ba": 2 / 3},
        candidate_confidences=[1.0, 1.0],
        candidate_severities=["none", "high"],
    )
    assert route_rank(harmful) == round(1000 * (2 / 3) * 2) - 250 == 1083


def test_acceptance_needs_both_orders_confident_and_consistent():
    both = PairGrades(preferences={"ab": 1, "ba": 1}, confidences={"ab": 1.0, "ba": 0.9})
    assert acceptable(both, min_confidence=0.9, min_consistency=1.0)
    assert not acceptable(both, min_confidence=0.95, min_consistency=1.0)
    one_order = PairGrades(preferences={"ab": 1}, confidences={"ab": 1.0})
    assert not acceptable(one_order, min_confidence=0.0, min_consistency=0.0)
    apart = PairGrades(preferences={"ab": 1, "ba": 0}, confidences={"ab": 1.0, "ba": 1.0})
    assert not acceptable(apart, min_confidence=0.5, min_consistency=1.0)
    assert acceptable(apart, min_confidence=0.5, min_consistency=0.75)


def test_spot_check_draw_is_exact_and_reproducible():
    ids = list(range(1, 41))
    drawn = spot_checked(ids, 0.25)
    assert len(drawn) == 10
    assert drawn == set(sorted(ids, key=spot_check_key)[:10])
    assert spot_checked(list(reversed(ids)), 0.25) == drawn
    assert len(spot_checked(ids[:5], 0.1)) == 1  # 0.5 rounds up
    assert spot_checked(ids, 0.0) == set()
