"""Shared by the per-candidate formats: scored candidates of a prompt's kept pairs."""

from __future__ import annotations

from ..aggregation import NO_SCORES, Candidate, ResolvedPair, Scores, candidate_scores
from .base import FormatContext


def scored_candidates(
    kept: list[ResolvedPair], context: FormatContext
) -> list[tuple[Candidate, Scores]]:
    """Candidates with derived scores; kept pairs without side labels are counted as no_scores.

    Imported prior preferences (HH-RLHF) and XSTest's compliance labels carry no severity or
    helpfulness, so score-based formats cannot use them; the manifest says so.
    """
    scored: list[ResolvedPair] = []
    for resolved in kept:
        if resolved.has_scores:
            scored.append(resolved)
        else:
            context.leave_out(NO_SCORES)
            if resolved.source == "prior":
                context.notes.add("prior_without_scores")
    return candidate_scores(scored, context.tables)
