"""Shared by the two pairwise formats: decide each kept pair, count what is left out."""

from __future__ import annotations

from collections.abc import Iterator

from ..aggregation import Candidate, Preference, PromptGroup, ResolvedPair, decide_preference
from .base import FormatContext


def decided_pairs(
    kept: list[ResolvedPair], context: FormatContext
) -> Iterator[tuple[ResolvedPair, Preference, Candidate, Candidate]]:
    """Yield (pair, decision, chosen, rejected) for each pair the preference source keeps."""
    spec = context.spec
    for resolved in kept:
        decision = decide_preference(
            resolved,
            source=spec.preference_source,
            min_margin=spec.min_margin,
            tables=context.tables,
        )
        if decision.left_out is not None or decision.chosen is None or decision.rejected is None:
            context.leave_out(decision.left_out or "tie")
            continue
        yield resolved, decision, decision.chosen, decision.rejected


__all__ = ["PromptGroup", "decided_pairs"]
