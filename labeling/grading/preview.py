"""Grade one chosen item on the spot and show everything: the filled prompt, each raw answer,
and the parsed grade or why an answer is not one. Nothing is stored: a preview is for judging
a template or a model before any grade is kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..generation.client import CallError
from ..models import Candidate, Grade, GraderVersion, Pair
from .answers import AnswerError, CombinedGrade, answer_parse, samples_combine
from .calls import sample_answers
from .templates import CANDIDATE, PAIR, GradingItemError, grading_prompt


@dataclass
class SamplePreview:
    """One sample's answer as received, with its parsed values or the reason it is no grade."""

    raw: str
    values: dict[str, Any] | None = None
    error: AnswerError | None = None


@dataclass
class OrderPreview:
    """One prompt sent and what came back: a candidate's, or a pair's in one order."""

    order: str  # "" for a candidate, "ab" or "ba" for a pair
    prompt: str
    samples: list[SamplePreview] = field(default_factory=list)
    grade: CombinedGrade | None = None
    call_error: str = ""  # what the endpoint answered (admins see it; others see the kind)
    call_error_kind: str = ""
    notes: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None

    @property
    def parse_errors(self) -> list[AnswerError]:
        return [sample.error for sample in self.samples if sample.error is not None]


@dataclass
class Preview:
    """A preview of one item: one :class:`OrderPreview` for a candidate, two for a pair."""

    kind: str
    item_id: int
    version: GraderVersion
    orders: list[OrderPreview]


def _preview_order(version: GraderVersion, kind: str, prompt: str, order: str) -> OrderPreview:
    shown = OrderPreview(order=order, prompt=prompt)
    try:
        answers = sample_answers(version, prompt, kind)
    except CallError as error:
        shown.call_error = str(error)
        shown.call_error_kind = error.kind
        return shown
    shown.notes = answers.notes
    shown.prompt_tokens = answers.prompt_tokens
    shown.completion_tokens = answers.completion_tokens
    shown.latency_ms = answers.latency_ms
    for text in answers.texts:
        try:
            shown.samples.append(SamplePreview(raw=text, values=answer_parse(text, kind)))
        except AnswerError as error:
            shown.samples.append(SamplePreview(raw=text, error=error))
    parsed = [sample.values for sample in shown.samples if sample.values is not None]
    if parsed:
        shown.grade = samples_combine(kind, parsed)
    return shown


def grader_preview(
    version: GraderVersion, *, candidate: Candidate | None = None, pair: Pair | None = None
) -> Preview:
    """Grade one candidate, or one pair in both orders, with ``version``; stores nothing.

    Raises :class:`GradingItemError` when the item cannot be graded (its category is not in
    the grader's policy version); a failed call or a bad answer is part of the preview.
    """
    if candidate is not None and pair is None:
        prompt = grading_prompt(version, candidate=candidate)
        return Preview(
            kind=CANDIDATE,
            item_id=candidate.pk,
            version=version,
            orders=[_preview_order(version, CANDIDATE, prompt, "")],
        )
    if pair is not None and candidate is None:
        orders = [Grade.Order.AB.value, Grade.Order.BA.value]
        prompts = [grading_prompt(version, pair=pair, order=order) for order in orders]
        return Preview(
            kind=PAIR,
            item_id=pair.pk,
            version=version,
            orders=[
                _preview_order(version, PAIR, prompt, order)
                for prompt, order in zip(prompts, orders, strict=True)
            ],
        )
    raise GradingItemError("Choose one item to preview: a candidate or a pair.")
