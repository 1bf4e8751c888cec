"""Shared by the per-candidate formats: scored candidates of a prompt's kept pairs."""

from __future__ import annotations

from ..aggregation import (
    GRADER_SOURCE,
    NO_SCORES,
    TOLERANCE,
    Candidate,
    ResolvedPair,
    Scores,
    aggregate_sides,
    candidate_scores,
)
from .base import FormatContext

HUMAN_SOURCE = "raw"  # any human ResolvedPair source: rows only tell human from grader
CANDIDATES_LOW_GRADER_CONFIDENCE = "candidates_low_grader_confidence"

# (candidate, its scores, the ResolvedPair source of its labels, a grader's confidence)
ScoredCandidate = tuple[Candidate, Scores, str, float | None]


def scored_candidates(kept: list[ResolvedPair], context: FormatContext) -> list[ScoredCandidate]:
    """Candidates with derived scores; kept pairs without side labels are counted as no_scores.

    Imported prior preferences (HH-RLHF) and XSTest's compliance labels carry no severity or
    helpfulness, so score-based formats cannot use them; the manifest says so.

    With grader labels, each candidate is weighed on its own and never from both kinds of
    rater: its human ratings (in human-resolved pairs) when it has any, else its grade, once,
    if the grade clears the minimum confidence (a grade under it is counted, per candidate, as
    ``candidates_low_grader_confidence``).
    """
    scored: list[ResolvedPair] = []
    for resolved in kept:
        if resolved.source == GRADER_SOURCE:
            continue
        if resolved.has_scores:
            scored.append(resolved)
        else:
            context.leave_out(NO_SCORES)
            if resolved.source == "prior":
                context.notes.add("prior_without_scores")
    human: list[ScoredCandidate] = [
        (candidate, scores, HUMAN_SOURCE, None)
        for candidate, scores in candidate_scores(scored, context.tables)
    ]
    if not context.spec.uses_grader:
        return human
    chosen = {item[0].id: item for item in human}
    weighed: set[int] = set(chosen)  # a candidate is in several pairs: weigh it once
    minimum = context.spec.min_grader_confidence
    for resolved in kept:
        pair = resolved.pair
        for candidate, grade in ((pair.a, pair.grade_a), (pair.b, pair.grade_b)):
            if grade is None or candidate.id in weighed:
                continue
            weighed.add(candidate.id)
            if grade.confidence + TOLERANCE < minimum:
                context.extra_counts[CANDIDATES_LOW_GRADER_CONFIDENCE] += 1
                continue
            scores = aggregate_sides([grade.side], context.tables)
            chosen[candidate.id] = (candidate, scores, GRADER_SOURCE, grade.confidence)
    return [chosen[key] for key in sorted(chosen)]
