"""Per-pair and per-candidate aggregation of labels, as docs/rubric.md defines it.

The streamed rows of one prompt arrive together; :mod:`exports.pipeline` groups them into a
:class:`PromptGroup`, and the functions here decide, for each pair, which labels count (raw
judgments, a reviewer's resolution, imported prior labels), whether the pair is left out and
why, and the derived scores of each side. The score formulas themselves live in
``policy.rubric`` so that the annotation form, quality and exports compute them alike.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policy.rubric import (
    HELPFULNESS_GRADES,
    RESPONSE_MODES,
    SEVERITY_ORDINAL,
    helpfulness_score,
    safety,
)

TOLERANCE = 1e-9
DECIMALS = 6

# Reasons a pair (or, for SFT, a prompt) is left out. The manifest counts every one of them.
TIE = "tie"
UNDER_MARGIN = "under_margin"
DISAGREE = "disagree"
TOO_FEW_JUDGMENTS = "too_few_judgments"
LOW_AGREEMENT = "low_agreement"
DISCARDED_BY_REVIEW = "discarded_by_review"
NO_SCORES = "no_scores"
NO_QUALIFYING_CANDIDATE = "no_qualifying_candidate"
EXCLUDED_FROM_EXPORTS = "excluded_from_exports"
PAIR_REASONS: tuple[str, ...] = (
    EXCLUDED_FROM_EXPORTS,
    TIE,
    UNDER_MARGIN,
    DISAGREE,
    TOO_FEW_JUDGMENTS,
    LOW_AGREEMENT,
    DISCARDED_BY_REVIEW,
    NO_SCORES,
)
# Reasons of exports that use grader labels (counted in their manifests only).
NO_GRADE = "no_grade"
LOW_GRADER_CONFIDENCE = "low_grader_confidence"
GRADER_REASONS: tuple[str, ...] = (NO_GRADE, LOW_GRADER_CONFIDENCE)
# The ResolvedPair source of a grader's labels (the others are human: raw, review, prior).
GRADER_SOURCE = "grader"


def rounded(value: float) -> float:
    """Fixed precision so files carry no float noise (and stay byte-identical)."""
    return round(value, DECIMALS) or 0.0  # never "-0.0"


@dataclass(slots=True)
class SideLabel:
    """One rater's labels of one candidate."""

    response_mode: str
    severity: str
    helpfulness: int


@dataclass(slots=True)
class PairLabel:
    """One rater's judgment of a pair (or a reviewer's resolution). Sides absent for priors."""

    preference: float
    a: SideLabel | None
    b: SideLabel | None
    judgment_id: int | None = None
    annotator_id: int | None = None
    extra: dict[str, Any] | None = None  # the raw judgment's other fields (judgments format)


@dataclass(slots=True)
class Candidate:
    id: int
    text: str


@dataclass(slots=True)
class CandidateGrade:
    """A grader version's grade of one candidate."""

    id: int
    side: SideLabel
    confidence: float


@dataclass(slots=True)
class OrderGrade:
    """A grader version's grade of a pair in one order; the preference is canonical."""

    id: int
    order: str
    preference: int
    confidence: float


@dataclass(slots=True)
class PairGroup:
    """A pair with everything the stream returned for it."""

    id: int
    a: Candidate
    b: Candidate
    prior_preference: float | None
    review_resolution: str | None
    review_final_labels: dict[str, Any] | None
    excluded: bool = False  # kept out of every export (the data browser's exclusion)
    judgments: list[PairLabel] = field(default_factory=list)
    # The export's grader version's grades (set only when the export uses grades).
    order_grades: list[OrderGrade] = field(default_factory=list)
    grade_a: CandidateGrade | None = None
    grade_b: CandidateGrade | None = None


@dataclass(slots=True)
class PromptGroup:
    """A prompt and all its selected pairs."""

    id: int
    category: str
    intent: str
    content_hash: str
    messages: list[dict[str, str]]
    pairs: list[PairGroup] = field(default_factory=list)
    split: str = ""  # set once by the pipeline (a seeded hash of the content)


@dataclass(slots=True)
class ResolvedPair:
    """The labels that count for a pair, or the reason it is left out."""

    pair: PairGroup
    source: str | None  # "raw", "review" or "prior" (human), or "grader"
    labels: list[PairLabel]
    left_out: str | None = None
    grader_confidence: float | None = None  # grader labels: the lowest confidence used

    @property
    def has_scores(self) -> bool:
        return bool(self.labels) and all(
            label.a is not None and label.b is not None for label in self.labels
        )


def _side_from_dict(data: Any) -> SideLabel | None:
    if not isinstance(data, dict):
        return None
    try:
        return SideLabel(
            response_mode=str(data["response_mode"]),
            severity=str(data["severity"]),
            helpfulness=int(data["helpfulness"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def pair_agreement(labels: Sequence[PairLabel]) -> float:
    """Share of raters whose preference points the same way (A, equal, B) as the most common.

    One rater agrees with themselves (1.0). This is the per-pair figure the export's minimum
    agreement is compared with; chance-corrected agreement over the whole selection is reported
    separately in the manifest.
    """
    if not labels:
        return 0.0
    signs = Counter(_sign(label.preference) for label in labels)
    return max(signs.values()) / len(labels)


def _sign(value: float) -> int:
    if value > TOLERANCE:
        return 1
    if value < -TOLERANCE:
        return -1
    return 0


def resolve_pair(
    pair: PairGroup,
    *,
    label_sources: Sequence[str],
    min_judgments: int,
    min_agreement: float,
) -> ResolvedPair:
    """Decide which labels count for ``pair``: a review overrides raw judgments; priors come last.

    A reviewer's resolution stands on its own (it already weighed the judgments), so the minimum
    number of judgments and the minimum agreement apply to raw judgments only.
    """
    if "review" in label_sources and pair.review_resolution:
        if pair.review_resolution == "discard":
            return ResolvedPair(pair, "review", [], DISCARDED_BY_REVIEW)
        final = pair.review_final_labels or {}
        preference = final.get("preference")
        if isinstance(preference, int | float) and not isinstance(preference, bool):
            label = PairLabel(
                preference=float(preference),
                a=_side_from_dict(final.get("a")),
                b=_side_from_dict(final.get("b")),
            )
            return ResolvedPair(pair, "review", [label])
    if "raw" in label_sources and pair.judgments:
        if len(pair.judgments) < min_judgments:
            return ResolvedPair(pair, "raw", pair.judgments, TOO_FEW_JUDGMENTS)
        if min_agreement > 0 and pair_agreement(pair.judgments) + TOLERANCE < min_agreement:
            return ResolvedPair(pair, "raw", pair.judgments, LOW_AGREEMENT)
        return ResolvedPair(pair, "raw", pair.judgments)
    if "prior" in label_sources and pair.prior_preference is not None:
        label = PairLabel(preference=float(pair.prior_preference), a=None, b=None)
        return ResolvedPair(pair, "prior", [label])
    return ResolvedPair(pair, None, [], TOO_FEW_JUDGMENTS)


def grader_preference(pair: PairGroup) -> tuple[int, float] | None:
    """The grader's preference of a pair and its confidence, or None when no order is graded.

    The orders' canonical preferences are combined as calibration combines them: their mean,
    truncated toward zero, so an order-inconsistent grader states a weaker preference than
    either order did. The confidence is the lowest of the orders' own confidences, and 0 when
    the orders point different ways (A, equal, B): position decided the answer.
    """
    grades = pair.order_grades
    if not grades:
        return None
    preference = math.trunc(sum(grade.preference for grade in grades) / len(grades))
    confidence = min(grade.confidence for grade in grades)
    if len({_sign(grade.preference) for grade in grades}) > 1:
        confidence = 0.0
    return preference, confidence


def resolve_pair_by_grader(
    pair: PairGroup,
    *,
    min_confidence: float,
    needs_preference: bool,
    needs_sides: bool,
) -> ResolvedPair:
    """The grader's labels of ``pair`` as one rater, or the reason they do not qualify.

    ``needs_preference``: the pair's preference must be graded (in at least one order) with
    at least ``min_confidence``; ``needs_sides``: both candidates' grades must be, and they
    become the label's sides. With neither (the per-candidate formats, which weigh each
    candidate's grade on its own), a pair qualifies when either candidate is graded.
    """
    used: list[float] = []
    preference = grader_preference(pair)
    if needs_preference:
        if preference is None:
            return ResolvedPair(pair, GRADER_SOURCE, [], NO_GRADE)
        used.append(preference[1])
    a = b = None
    if needs_sides:
        if pair.grade_a is None or pair.grade_b is None:
            return ResolvedPair(pair, GRADER_SOURCE, [], NO_GRADE)
        a, b = pair.grade_a.side, pair.grade_b.side
        used += [pair.grade_a.confidence, pair.grade_b.confidence]
    if not (needs_preference or needs_sides) and pair.grade_a is None and pair.grade_b is None:
        return ResolvedPair(pair, GRADER_SOURCE, [], NO_GRADE)
    confidence = min(used) if used else None
    if confidence is not None and confidence + TOLERANCE < min_confidence:
        return ResolvedPair(pair, GRADER_SOURCE, [], LOW_GRADER_CONFIDENCE, confidence)
    # A preference nobody asked for (per-candidate formats, reward margins) is never read.
    label = PairLabel(preference=float(preference[0]) if preference else 0.0, a=a, b=b)
    return ResolvedPair(pair, GRADER_SOURCE, [label], None, confidence)


@dataclass(slots=True)
class Scores:
    """Aggregate scores of one candidate over several raters."""

    n: int
    safety: float
    helpfulness: float
    reward: float
    severity: float
    safety_sd: float
    response_mode: str


@dataclass(frozen=True)
class ScoreTables:
    """``s`` per severity and ``h`` per grade, looked up from ``policy.rubric`` once per
    export, so the hot loop does dictionary lookups instead of recomputing the formulas."""

    safety: dict[str, float]
    helpfulness: dict[int, float]
    mapping: dict[str, float]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, float]) -> ScoreTables:
        return cls(
            safety={level: safety(level, mapping) for level in SEVERITY_ORDINAL},
            helpfulness={grade: helpfulness_score(grade) for grade in HELPFULNESS_GRADES},
            mapping=dict(mapping),
        )


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def aggregate_sides(sides: Sequence[SideLabel], tables: ScoreTables) -> Scores:
    """Mean ``s``, ``h``, ``r`` and severity ordinal of a candidate; population SD of ``s``.

    The response mode is the most common one (ties go to the earlier mode in the rubric's list).
    """
    safety_of = tables.safety
    helpfulness_of = tables.helpfulness
    ordinal = SEVERITY_ORDINAL
    count = len(sides)
    severities = [side.severity for side in sides]
    s_values = [safety_of[level] for level in severities]
    h_values = [helpfulness_of[side.helpfulness] for side in sides]
    s_mean = math.fsum(s_values) / count
    modes = [side.response_mode for side in sides]
    mode = modes[0]
    if modes.count(mode) != count:
        tally = Counter(modes)
        best = max(tally.values())
        tied = sorted(m for m, times in tally.items() if times == best)
        mode = next((m for m in RESPONSE_MODES if m in tied), tied[0])
    if s_values.count(s_values[0]) == count:
        spread = 0.0  # one level (the common case): no deviation
    else:
        spread = math.sqrt(math.fsum([(v - s_mean) ** 2 for v in s_values]) / count)
    return Scores(
        n=count,
        safety=s_mean,
        helpfulness=math.fsum(h_values) / count,
        reward=math.fsum(map(operator.mul, s_values, h_values)) / count,
        severity=sum([ordinal[level] for level in severities]) / count,
        safety_sd=spread,
        response_mode=mode,
    )


@dataclass(slots=True)
class Preference:
    """The decision on a pair: which candidate is chosen, by what margin; or why none."""

    chosen: Candidate | None
    rejected: Candidate | None
    margin: float
    left_out: str | None
    human_margin: float | None
    reward_margin: float | None


def decide_preference(
    resolved: ResolvedPair,
    *,
    source: str,
    min_margin: float,
    tables: ScoreTables,
) -> Preference:
    """Apply the preference source to a resolved pair (docs/rubric.md, docs/formats.md).

    ``human``: the mean preference (−2 … +2, positive = B better). ``reward``: ``r_B − r_A`` of
    the pair's aggregate rewards. ``both``: the two must point the same way and each clear the
    minimum margin; the row's margin is then the reward margin. Ties are always left out.
    """
    pair = resolved.pair
    human = _mean([label.preference for label in resolved.labels]) if resolved.labels else None
    reward_margin: float | None = None
    if source != "human" and resolved.has_scores:
        reward_margin = _mean_reward(resolved.labels, "b", tables) - _mean_reward(
            resolved.labels, "a", tables
        )

    def result(margin: float | None, reason: str | None) -> Preference:
        if reason is not None or margin is None:
            return Preference(None, None, 0.0, reason, human, reward_margin)
        chosen, rejected = (pair.b, pair.a) if margin > 0 else (pair.a, pair.b)
        return Preference(chosen, rejected, abs(margin), None, human, reward_margin)

    if source == "human":
        if human is None:
            return result(None, TOO_FEW_JUDGMENTS)
        if _sign(human) == 0:
            return result(None, TIE)
        if abs(human) + TOLERANCE < min_margin:
            return result(None, UNDER_MARGIN)
        return result(human, None)
    if reward_margin is None:
        return result(None, NO_SCORES)
    if source == "reward":
        if _sign(reward_margin) == 0:
            return result(None, TIE)
        if abs(reward_margin) + TOLERANCE < min_margin:
            return result(None, UNDER_MARGIN)
        return result(reward_margin, None)
    assert human is not None
    if _sign(human) == 0 or _sign(reward_margin) == 0:
        return result(None, TIE)
    if _sign(human) != _sign(reward_margin):
        return result(None, DISAGREE)
    if min(abs(human), abs(reward_margin)) + TOLERANCE < min_margin:
        return result(None, UNDER_MARGIN)
    return result(reward_margin, None)


def _mean_reward(labels: Sequence[PairLabel], side: str, tables: ScoreTables) -> float:
    values = []
    for label in labels:
        rating = label.a if side == "a" else label.b
        assert rating is not None
        values.append(tables.safety[rating.severity] * tables.helpfulness[rating.helpfulness])
    return math.fsum(values) / len(values)


def candidate_scores(
    resolved_pairs: Sequence[ResolvedPair], tables: ScoreTables
) -> list[tuple[Candidate, Scores]]:
    """Aggregate each candidate over every counted rating in the prompt's kept pairs.

    A candidate is judged in several pairs; all those sides count. Returned in candidate order.
    """
    sides: dict[int, list[SideLabel]] = {}
    candidates: dict[int, Candidate] = {}
    for resolved in resolved_pairs:
        pair = resolved.pair
        for candidate, rated in (
            (pair.a, [label.a for label in resolved.labels]),
            (pair.b, [label.b for label in resolved.labels]),
        ):
            counted = [side for side in rated if side is not None]
            if counted:
                found = sides.get(candidate.id)
                if found is None:
                    sides[candidate.id] = counted
                    candidates[candidate.id] = candidate
                else:
                    found.extend(counted)
    return [
        (candidates[candidate_id], aggregate_sides(sides[candidate_id], tables))
        for candidate_id in sorted(sides)
    ]


@dataclass(slots=True)
class ConsensusLabels:
    """The consensus labels of the export's pinned consensus runs (one per campaign): the
    response mode and severity per candidate, the preference's direction (``a``, ``tie``,
    ``b``) per pair."""

    response_mode: dict[int, str] = field(default_factory=dict)
    severity: dict[int, str] = field(default_factory=dict)
    preference: dict[int, str] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)


_DIRECTION_SIGN = {"a": -1, "tie": 0, "b": 1}


def apply_consensus(
    resolved: ResolvedPair, consensus: ConsensusLabels
) -> tuple[ResolvedPair, bool]:
    """A pair's raw judgments replaced by one label from the consensus, and whether any
    consensus value was used.

    The preference keeps the humans' strength in the consensus direction: the mean of the
    judgments that point that way (±1 when none does, 0 for a tie). Each side takes the
    consensus mode and severity of its candidate and the lower median of the judgments'
    helpfulness (the consensus model leaves helpfulness alone). An item without a consensus
    (rated by a single rater) keeps the majority rule: its judgments count as they are.
    """
    pair = resolved.pair
    if resolved.source != "raw" or not resolved.labels:
        return resolved, False
    used = False
    labels = resolved.labels
    preference = _mean([label.preference for label in labels])
    chosen = consensus.preference.get(pair.id)
    if chosen is not None:
        used = True
        sign = _DIRECTION_SIGN[chosen]
        agreeing = [label.preference for label in labels if _sign(label.preference) == sign]
        preference = _mean(agreeing) if agreeing else float(sign)
    sides: list[SideLabel | None] = []
    for candidate, rated in (
        (pair.a, [label.a for label in labels]),
        (pair.b, [label.b for label in labels]),
    ):
        counted = [side for side in rated if side is not None]
        mode = consensus.response_mode.get(candidate.id)
        severity = consensus.severity.get(candidate.id)
        if not counted or (mode is None and severity is None):
            sides.append(None)
            continue
        used = True
        helpfulness = sorted(side.helpfulness for side in counted)[(len(counted) - 1) // 2]
        majority_mode = Counter(side.response_mode for side in counted).most_common(1)[0][0]
        ordered = sorted((side.severity for side in counted), key=SEVERITY_ORDINAL.__getitem__)
        sides.append(
            SideLabel(
                response_mode=mode or majority_mode,
                severity=severity or ordered[(len(ordered) - 1) // 2],
                helpfulness=helpfulness,
            )
        )
    if not used:
        return resolved, False
    if sides[0] is None or sides[1] is None:
        # One side without a consensus: the preference alone changes, the sides stay raw.
        relabelled = [
            PairLabel(preference, label.a, label.b, label.judgment_id, label.annotator_id)
            for label in labels
        ]
        return ResolvedPair(pair, resolved.source, relabelled), True
    return ResolvedPair(pair, resolved.source, [PairLabel(preference, sides[0], sides[1])]), True
