"""``trl-kto``: TRL's unpaired format; ``label``: the candidate's ``r`` is over the bar."""

from __future__ import annotations

from ..aggregation import TOLERANCE, PromptGroup, ResolvedPair
from .base import FormatContext, assistant
from .pointwise import scored_candidates

NAME = "trl-kto"
EXTENSION = "jsonl"
WITH_DETAILS = False
CSV_HEADER = None


def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
    """One row per candidate: ``label`` is true when its mean ``r`` is over the KTO threshold."""
    split = context.split_of(prompt)
    for candidate, scores, source, confidence in scored_candidates(kept, context):
        desirable = scores.reward > context.spec.kto_threshold + TOLERANCE
        context.extra_counts["desirable" if desirable else "undesirable"] += 1
        context.write_row(
            prompt.category,
            split,
            {
                "prompt": prompt.messages,
                "completion": assistant(candidate.text),
                "label": desirable,
            },
            source=source,
            confidence=confidence,
        )
