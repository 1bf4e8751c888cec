"""The figures of routing, computed from grades: how unsure the grader is about a pair, the
rank that orders the claim, whether a pair's grade is confident enough to accept as its AI
label, and which accepted pairs are drawn for the spot check.

Pure functions of grade values (no database), so the rules read in one place:

* **doubt**: the sum of 1 − confidence over the routing grader's grades of the pair (each
  order) and of its two candidates (a grade's confidence is the share of its samples
  agreeing, so 1 − confidence is about how likely that grade is wrong);
* **inconsistency**: how far the pair's two orders' preferences (both canonical) lie apart,
  ``|ab − ba| / 4`` on the −2…+2 scale;
* **disagreement**: how far another grader's preference for the pair (the mean of its orders)
  lies from this one's, ``/ 4``, the largest over the other graders;
* **uncertainty** = doubt + inconsistency + disagreement: about how many wrong grades one
  human judgment of the pair would reveal (it rates both candidates and the preference at
  once), so a pair with several shaky grades comes before a pair with one;
* **severity weight**: 1 + the position of the more severe of the two candidates' graded
  severities on the policy's ordinal scale, divided by the scale's last position: 1 for
  ``none`` up to 2 for the top level, so an unsure grade of a harmful answer comes before an
  equally unsure grade of a harmless one (the graded severity, not the category's: the policy's
  categories carry guidance per level, not a severity of their own);
* **rank** = round(1000 × uncertainty × weight) − ``UNGRADED_RANK_OFFSET``. A pair without any
  grade keeps rank 0: the rank of a grade whose weighted uncertainty is 0.25, so ungraded
  pairs come after the clearly unsure ones and before the confidently graded ones (they never
  starve, and a pair made after the last recompute needs no recompute to be served).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from policy.rubric import PREFERENCE_MAX, PREFERENCE_MIN, SEVERITY_LEVELS

RANK_SCALE = 1000
UNGRADED_RANK_OFFSET = 250
"""Weighted uncertainty × RANK_SCALE at which a graded pair ranks with the ungraded ones."""
PREFERENCE_SPAN = PREFERENCE_MAX - PREFERENCE_MIN


@dataclass(frozen=True)
class PairGrades:
    """What the routing grader (and the others) said about one pair and its candidates."""

    # Canonical preference and confidence per order shown ("ab", "ba"), the routing grader's.
    preferences: dict[str, int]
    confidences: dict[str, float]
    # The routing grader's grades of the two candidates: confidence and severity, when graded.
    candidate_confidences: Sequence[float] = ()
    candidate_severities: Sequence[str] = ()
    # Every other grader's preferences for the pair (its orders), one list per grader.
    other_preferences: Sequence[Sequence[int]] = ()

    @property
    def graded(self) -> bool:
        return bool(self.preferences or self.candidate_confidences)


def order_consistency(preferences: dict[str, int]) -> float | None:
    """1 when the two orders gave the same canonical preference, 0 when they lie at the
    opposite ends of the scale; None unless both orders are graded."""
    if len(preferences) < 2:
        return None
    return 1 - abs(preferences["ab"] - preferences["ba"]) / PREFERENCE_SPAN


def lowest_confidence(grades: PairGrades) -> float | None:
    values = [*grades.confidences.values(), *grades.candidate_confidences]
    return min(values) if values else None


def uncertainty(grades: PairGrades) -> float:
    """Doubt + inconsistency + disagreement (see the module docstring)."""
    doubt = sum(
        1 - value for value in (*grades.confidences.values(), *grades.candidate_confidences)
    )
    consistency = order_consistency(grades.preferences)
    inconsistency = 0.0 if consistency is None else 1 - consistency
    disagreement = 0.0
    if grades.preferences:
        mine = sum(grades.preferences.values()) / len(grades.preferences)
        for theirs in grades.other_preferences:
            if theirs:
                other = sum(theirs) / len(theirs)
                disagreement = max(disagreement, abs(mine - other) / PREFERENCE_SPAN)
    return doubt + inconsistency + disagreement


def severity_weight(severities: Sequence[str]) -> float:
    """1 (nothing graded, or ``none``) up to 2 (the policy's top severity level)."""
    positions = [SEVERITY_LEVELS.index(value) for value in severities if value in SEVERITY_LEVELS]
    if not positions:
        return 1.0
    return 1 + max(positions) / (len(SEVERITY_LEVELS) - 1)


def route_rank(grades: PairGrades) -> int:
    """The claim serves higher ranks first; 0 for a pair without grades."""
    if not grades.graded:
        return 0
    weighted = uncertainty(grades) * severity_weight(grades.candidate_severities)
    return round(RANK_SCALE * weighted) - UNGRADED_RANK_OFFSET


def acceptable(grades: PairGrades, *, min_confidence: float, min_consistency: float) -> bool:
    """Whether the pair's grade may stand as its AI label: both orders graded, every grade's
    confidence (both orders and both candidates, where graded) at least ``min_confidence``,
    the orders' consistency at least ``min_consistency``, and no other grader further from it
    than that consistency allows."""
    consistency = order_consistency(grades.preferences)
    lowest = lowest_confidence(grades)
    if consistency is None or lowest is None:
        return False
    if lowest < min_confidence or consistency < min_consistency:
        return False
    mine = sum(grades.preferences.values()) / len(grades.preferences)
    for theirs in grades.other_preferences:
        if theirs and 1 - abs(mine - sum(theirs) / len(theirs)) / PREFERENCE_SPAN < min_consistency:
            return False
    return True


def spot_check_key(pair_id: int) -> int:
    """The pair's place in the spot-check draw: a hash of its id, so the draw is the same on
    every recompute and every machine."""
    digest = hashlib.sha256(f"graylab-spot-check:{pair_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def spot_checked(pair_ids: Sequence[int], share: float) -> set[int]:
    """Of the acceptable pairs ``pair_ids``, the ones still sent to humans: exactly
    round(share × count) of them (half rounds up), those with the lowest ``spot_check_key``."""
    count = math.floor(share * len(pair_ids) + 0.5)
    return set(sorted(pair_ids, key=spot_check_key)[:count])


def grader_value(preferences: dict[str, int]) -> int:
    """The grader's preference for a pair: its orders' mean truncated toward zero, as
    calibration reads it (labeling/grading/calibration.py)."""
    return math.trunc(sum(preferences.values()) / len(preferences))
