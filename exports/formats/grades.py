"""``grades``: a grader version's grades, one row each (a candidate, or a pair in one order).

Rows come from their own stream (:func:`exports.selectors.stream_grade_rows`), not from the
pair stream the label formats share: a grade is written as stored, with no human rule applied.
"""

from __future__ import annotations

from typing import Any

from ..aggregation import rounded

NAME = "grades"
EXTENSION = "jsonl"
WITH_DETAILS = False
CSV_HEADER = None

RATED_FIELDS: tuple[str, ...] = ("response_mode", "severity", "helpfulness", "preference")


def _number(value: float | None) -> float | None:
    return None if value is None else rounded(float(value))


def grade_row(values: dict[str, Any], *, grader: str, grader_version: int) -> dict[str, Any]:
    """The row of one grade (``values``: the stream's columns by name). Every row has the same
    keys; the fields of the other kind of grade are null."""
    field_confidence = values["field_confidence"] or {}
    row: dict[str, Any] = {
        "grade_id": values["id"],
        "kind": values["kind"],
        "candidate_id": values["candidate_id"],
        "pair_id": values["pair_id"],
        "candidate_a_id": values["pair__candidate_a_id"],
        "candidate_b_id": values["pair__candidate_b_id"],
        "order": values["order"] or None,
        "prompt_id": values["row_prompt_id"],
        "external_id": values["row_external_id"],
        "category": values["row_category"],
        "intent": values["row_intent"],
        "grader": grader,
        "grader_version": grader_version,
        "label_source": "grader",
        "confidence": _number(values["confidence"]),
        "samples": values["samples"],
        "rationale": values["rationale"],
        "raw_answers": values["raw_answers"],
        "prompt_tokens": values["prompt_tokens"],
        "completion_tokens": values["completion_tokens"],
        "latency_ms": values["latency_ms"],
    }
    for name in RATED_FIELDS:
        value = values[name]
        row[name] = value
        row[f"{name}_confidence"] = (
            None if value is None else _number(field_confidence.get(name, values["confidence"]))
        )
    return row
