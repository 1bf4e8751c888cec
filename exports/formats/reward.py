"""``reward``: pointwise rows for separate safety and helpfulness reward models."""

from __future__ import annotations

from ..aggregation import PromptGroup, ResolvedPair, rounded
from .base import FormatContext, assistant
from .pointwise import scored_candidates

NAME = "reward"
EXTENSION = "jsonl"
WITH_DETAILS = False
CSV_HEADER = None


def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
    """One row per candidate, its scores averaged over every rating in the prompt's kept pairs."""
    split = context.split_of(prompt)
    for candidate, scores, source, confidence in scored_candidates(kept, context):
        context.write_row(
            prompt.category,
            split,
            {
                "candidate_id": str(candidate.id),
                "prompt": prompt.messages,
                "completion": assistant(candidate.text),
                "category": prompt.category,
                "intent": prompt.intent,
                "policy_version": context.policy_version,
                "response_mode": scores.response_mode,
                "severity": rounded(scores.severity),
                "safety": rounded(scores.safety),
                "helpfulness": rounded(scores.helpfulness),
                "reward": rounded(scores.reward),
                "n_judgments": scores.n,
                "safety_sd": rounded(scores.safety_sd),
            },
            source=source,
            confidence=confidence,
        )
