"""``trl-preference``: TRL's conversational preference format (DPO, ORPO, CPO, reward)."""

from __future__ import annotations

from ..aggregation import PromptGroup, ResolvedPair, rounded
from .base import FormatContext, assistant
from .preference import decided_pairs

NAME = "trl-preference"
EXTENSION = "jsonl"
WITH_DETAILS = False
CSV_HEADER = None


def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
    """One row per kept pair; ``margin`` is the deciding margin, always positive."""
    split = context.split_of(prompt)
    for resolved, decision, chosen, rejected in decided_pairs(kept, context):
        context.write_row(
            prompt.category,
            split,
            {
                "prompt": prompt.messages,
                "chosen": assistant(chosen.text),
                "rejected": assistant(rejected.text),
                "margin": rounded(decision.margin),
                "category": prompt.category,
                "intent": prompt.intent,
                "pair_id": str(resolved.pair.id),
            },
            source=resolved.source,
            confidence=resolved.grader_confidence,
        )
