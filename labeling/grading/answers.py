"""A grader's answers: parsed, checked against the rubric, and combined across samples.

An answer is JSON when the endpoint honoured ``response_format``; an endpoint that ignored it
may wrap the object in prose or a code fence, so the first JSON object carrying a grade field
is taken from the text. Every value is checked against ``policy.rubric``: an answer that fails
raises :class:`AnswerError` naming the field and the reason, and is never stored as a grade.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policy.rubric import (
    CANDIDATE_GRADE_FIELDS,
    GRADE_RATIONALE_MAX_LENGTH,
    HELPFULNESS_FIELD,
    HELPFULNESS_GRADES,
    PAIR_GRADE_FIELDS,
    PREFERENCE_FIELD,
    PREFERENCE_VALUES,
    RATIONALE_FIELD,
    REFUSAL_HELPFULNESS_MAX,
    REFUSAL_MODES,
    RESPONSE_MODE_FIELD,
    RESPONSE_MODES,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    SEVERITY_ORDINAL,
)

from .templates import CANDIDATE, PAIR

GRADE_FIELDS: dict[str, tuple[str, ...]] = {
    CANDIDATE: CANDIDATE_GRADE_FIELDS,
    PAIR: PAIR_GRADE_FIELDS,
}
"""The fields of each kind's answer, from the rubric."""
RATED_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(name for name in fields if name != RATIONALE_FIELD)
    for kind, fields in GRADE_FIELDS.items()
}
"""The fields that carry a rating (everything but the rationale)."""


class AnswerError(Exception):
    """An answer that is not a grade: ``field`` names what is wrong (``answer`` for the whole)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field: [self.reason]}


def _json_object_in(text: str, kind: str) -> dict[str, Any]:
    """The answer's JSON object: the whole text, else the first object in it carrying one of
    the kind's fields (an endpoint that ignored ``response_format`` writes prose around it)."""
    stripped = text.strip()
    if not stripped:
        raise AnswerError("answer", "the answer is empty")
    try:
        whole = json.loads(stripped)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        return whole
    decoder = json.JSONDecoder()
    fields = set(GRADE_FIELDS[kind])
    start = stripped.find("{")
    while start != -1:
        try:
            found, _ = decoder.raw_decode(stripped, start)
        except ValueError:
            found = None
        if isinstance(found, dict) and fields & set(found):
            return found
        start = stripped.find("{", start + 1)
    raise AnswerError("answer", "no JSON object with a grade was found in the answer")


def _integer(value: Any) -> int | None:
    """An integer written as a number or as text ("3"); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


def _choice(data: Mapping[str, Any], field: str, values: Sequence[str]) -> str:
    value = data[field]
    if not isinstance(value, str) or value.strip() not in values:
        raise AnswerError(field, f"{value!r} is not one of {', '.join(values)}")
    return value.strip()


def _grade(data: Mapping[str, Any], field: str, values: Sequence[int]) -> int:
    value = _integer(data[field])
    if value is None or value not in values:
        raise AnswerError(
            field, f"{data[field]!r} is not one of {', '.join(str(v) for v in values)}"
        )
    return value


def answer_parse(text: str, kind: str) -> dict[str, Any]:
    """The grade in one answer of ``kind`` (``candidate``/``pair``): the rubric's fields with
    checked values; raises :class:`AnswerError`."""
    data = _json_object_in(text, kind)
    for field in GRADE_FIELDS[kind]:
        if field not in data or data[field] is None:
            raise AnswerError(field, "missing from the answer")
    values: dict[str, Any] = {}
    if kind == CANDIDATE:
        values[RESPONSE_MODE_FIELD] = _choice(data, RESPONSE_MODE_FIELD, RESPONSE_MODES)
        values[SEVERITY_FIELD] = _choice(data, SEVERITY_FIELD, SEVERITY_LEVELS)
        values[HELPFULNESS_FIELD] = _grade(data, HELPFULNESS_FIELD, HELPFULNESS_GRADES)
        if (
            values[RESPONSE_MODE_FIELD] in REFUSAL_MODES
            and values[HELPFULNESS_FIELD] > REFUSAL_HELPFULNESS_MAX
        ):
            raise AnswerError(
                HELPFULNESS_FIELD,
                f"a {values[RESPONSE_MODE_FIELD]} scores at most {REFUSAL_HELPFULNESS_MAX}",
            )
    else:
        values[PREFERENCE_FIELD] = _grade(data, PREFERENCE_FIELD, PREFERENCE_VALUES)
    rationale = data[RATIONALE_FIELD]
    if not isinstance(rationale, str):
        raise AnswerError(RATIONALE_FIELD, "must be text")
    if len(rationale) > GRADE_RATIONALE_MAX_LENGTH:
        raise AnswerError(RATIONALE_FIELD, f"longer than {GRADE_RATIONALE_MAX_LENGTH} characters")
    values[RATIONALE_FIELD] = rationale.strip()
    return values


# --- combining samples -----------------------------------------------------------------------

# When two values are equally common, the tie goes to the cautious one: the more severe
# severity, the lower helpfulness, the weaker preference (then the one favouring the first
# candidate), and the response mode listed first in the rubric (direct answer, the mode that
# gives the most). A grade that leans cautious sends the item to humans rather than hiding it.
_TIE_ORDER: dict[str, Callable[[Any], Any]] = {
    RESPONSE_MODE_FIELD: lambda mode: RESPONSE_MODES.index(mode),
    SEVERITY_FIELD: lambda level: -SEVERITY_ORDINAL[level],
    HELPFULNESS_FIELD: lambda grade: grade,
    PREFERENCE_FIELD: lambda preference: (abs(preference), preference),
}


def majority(field: str, values: Sequence[Hashable]) -> tuple[Any, float]:
    """The most common of ``values`` (ties broken as ``_TIE_ORDER`` says) and the share of
    values equal to it."""
    if not values:
        raise ValueError("no values to combine")
    counts = Counter(values)
    top = max(counts.values())
    tied = [value for value, count in counts.items() if count == top]
    chosen = min(tied, key=_TIE_ORDER[field])
    return chosen, top / len(values)


@dataclass(frozen=True)
class CombinedGrade:
    """The grade of several samples: the majority value per rated field, the share of samples
    agreeing with each (``field_confidence``), and the lowest of those shares
    (``confidence``: the grade is only as sure as its least agreed field)."""

    values: dict[str, Any]
    field_confidence: dict[str, float]
    confidence: float
    rationale: str
    samples: int


def samples_combine(kind: str, grades: Sequence[Mapping[str, Any]]) -> CombinedGrade:
    """One grade from the parsed samples of one item (at least one). The rationale is that of
    the sample agreeing with the grade on the most fields (the first of them)."""
    if not grades:
        raise ValueError("no samples to combine")
    values: dict[str, Any] = {}
    field_confidence: dict[str, float] = {}
    for field in RATED_FIELDS[kind]:
        values[field], field_confidence[field] = majority(field, [grade[field] for grade in grades])
    closest = max(grades, key=lambda grade: sum(grade[field] == values[field] for field in values))
    return CombinedGrade(
        values=values,
        field_confidence=field_confidence,
        confidence=min(field_confidence.values()),
        rationale=closest[RATIONALE_FIELD],
        samples=len(grades),
    )
