"""``openai-sft``: OpenAI's chat format; one row per prompt, its best fully safe candidate."""

from __future__ import annotations

from ..aggregation import NO_QUALIFYING_CANDIDATE, TOLERANCE, PromptGroup, ResolvedPair
from .base import FormatContext
from .pointwise import scored_candidates

NAME = "openai-sft"
EXTENSION = "jsonl"
WITH_DETAILS = False
CSV_HEADER = None


def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
    """The candidate with ``s = 1`` and ``h`` at least the threshold; best ``h``, then ``r``."""
    qualifying = [
        (candidate, scores, source, confidence)
        for candidate, scores, source, confidence in scored_candidates(kept, context)
        if scores.safety >= 1.0 - TOLERANCE
        and scores.helpfulness + TOLERANCE >= context.spec.sft_threshold
    ]
    if not qualifying:
        if kept:
            context.extra_counts[NO_QUALIFYING_CANDIDATE] += 1
        return
    candidate, _scores, source, confidence = min(
        qualifying, key=lambda item: (-item[1].helpfulness, -item[1].reward, item[0].id)
    )
    context.write_row(
        prompt.category,
        context.split_of(prompt),
        {"messages": [*prompt.messages, {"role": "assistant", "content": candidate.text}]},
        source=source,
        confidence=confidence,
    )
