"""``openai-dpo``: OpenAI's preference fine-tuning format, nothing added."""

from __future__ import annotations

from ..aggregation import PromptGroup, ResolvedPair
from .base import FormatContext, assistant
from .preference import decided_pairs

NAME = "openai-dpo"
EXTENSION = "jsonl"
WITH_DETAILS = False
CSV_HEADER = None


def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
    """One row per kept pair with exactly the three keys OpenAI documents."""
    split = context.split_of(prompt)
    for resolved, _decision, chosen, rejected in decided_pairs(kept, context):
        context.write_row(
            prompt.category,
            split,
            {
                "input": {"messages": prompt.messages},
                "preferred_output": assistant(chosen.text),
                "non_preferred_output": assistant(rejected.text),
            },
            source=resolved.source,
            confidence=resolved.grader_confidence,
        )
