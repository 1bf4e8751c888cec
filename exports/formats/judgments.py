"""``judgments`` / ``judgments-csv``: raw judgments, one row each, for analysis."""

from __future__ import annotations

from typing import Any

import orjson

from policy.rubric import (
    PAIR_NOTE_FIELDS,
    PREFERENCE_FIELD,
    SIDE_FIELDS,
    TIME_ON_TASK_FIELD,
    helpfulness_score,
    safety,
    side_field,
    side_fields,
)

from ..aggregation import PairLabel, PromptGroup, ResolvedPair, rounded
from .base import FormatContext, annotator_pseudonym

WITH_DETAILS = True


def _side_columns(side: str) -> tuple[str, ...]:
    """One side's rubric fields followed by its derived scores."""
    return (*side_fields(side), f"{side}_safety", f"{side}_helpfulness_score", f"{side}_reward")


COLUMNS: tuple[str, ...] = (
    "judgment_id",
    "pair_id",
    "prompt_id",
    "category",
    "intent",
    "prompt",
    "candidate_a_id",
    "completion_a",
    "candidate_b_id",
    "completion_b",
    "annotator",
    "policy_version",
    *_side_columns("a"),
    *_side_columns("b"),
    PREFERENCE_FIELD,
    *PAIR_NOTE_FIELDS,
    "left_is_a",
    TIME_ON_TASK_FIELD,
    "created_at",
)


def judgment_rows(
    prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext
) -> list[dict[str, Any]]:
    """Rows of the raw judgments of the prompt's kept pairs (never reviews or priors)."""
    rows = []
    mapping = context.mapping
    for resolved in kept:
        pair = resolved.pair
        for judgment in pair.judgments:
            rows.append(_row(prompt, resolved, judgment, context, mapping))
    return rows


def _row(
    prompt: PromptGroup,
    resolved: ResolvedPair,
    judgment: PairLabel,
    context: FormatContext,
    mapping: Any,
) -> dict[str, Any]:
    extra = judgment.extra or {}
    pair = resolved.pair
    annotator_id = extra.get("annotator_id")
    if context.spec.pseudonymise_annotators:
        annotator = annotator_pseudonym(int(annotator_id)) if annotator_id is not None else None
    else:
        annotator = extra.get("annotator_username")
    row: dict[str, Any] = {
        "judgment_id": judgment.judgment_id,
        "pair_id": pair.id,
        "prompt_id": prompt.id,
        "category": prompt.category,
        "intent": prompt.intent,
        "prompt": prompt.messages,
        "candidate_a_id": pair.a.id,
        "completion_a": pair.a.text,
        "candidate_b_id": pair.b.id,
        "completion_b": pair.b.text,
        "annotator": annotator,
        "policy_version": extra.get("policy_version"),
        "preference": int(judgment.preference),
        "rationale": extra.get("rationale", ""),
        "flags": extra.get("flags", []),
        "flag_note": extra.get("flag_note", ""),
        "left_is_a": extra.get("left_is_a"),
        "time_on_task_ms": extra.get("time_on_task_ms"),
        "created_at": extra.get("created_at"),
    }
    for prefix, side in (("a", judgment.a), ("b", judgment.b)):
        assert side is not None
        s = safety(side.severity, mapping)
        h = helpfulness_score(side.helpfulness)
        for name in SIDE_FIELDS:
            row[side_field(prefix, name)] = getattr(side, name)
        row[f"{prefix}_safety"] = rounded(s)
        row[f"{prefix}_helpfulness_score"] = rounded(h)
        row[f"{prefix}_reward"] = rounded(s * h)
    return row


class JsonlJudgments:
    NAME = "judgments"
    EXTENSION = "jsonl"
    WITH_DETAILS = True
    CSV_HEADER: tuple[str, ...] | None = None

    @staticmethod
    def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
        split = context.split_of(prompt)
        for row in judgment_rows(prompt, kept, context):
            context.writer.write_json(prompt.category, split, row)


class CsvJudgments:
    NAME = "judgments-csv"
    EXTENSION = "csv"
    WITH_DETAILS = True
    CSV_HEADER: tuple[str, ...] | None = COLUMNS

    @staticmethod
    def write_prompt(prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext) -> None:
        split = context.split_of(prompt)
        for row in judgment_rows(prompt, kept, context):
            cells = []
            for column in COLUMNS:
                value = row[column]
                if column in {"prompt", "flags"}:
                    value = orjson.dumps(value).decode()
                elif isinstance(value, bool):
                    value = "true" if value else "false"
                cells.append(value)
            context.writer.write_csv(prompt.category, split, cells)
