"""Asking a grader version's endpoint for its answers to one filled prompt.

The request names the rubric's JSON schema (``response_format``) and asks for every sample at
once (``n``), through the generation feature's client (one ``openai`` client per endpoint, its
key read from the allowed variable at call time). Endpoints differ: one that returns fewer
choices than asked gets one more call per missing sample (seed + sample index, so each sample
still differs and repeats), and one that rejects ``response_format`` (400 naming it) is asked
again without it, its answers parsed from text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policy.rubric import grade_response_format

from ..generation.client import CallError, Choices, chat_parse_choices, chat_send
from ..generation.endpoints import lease_seconds
from ..generation.semaphore import SemaphoreTimeout, endpoint_slot

FORMAT_PARAMETER = "response_format"


@dataclass
class SampleAnswers:
    """Every sample's answer text for one prompt, with what the calls cost and what they
    had to work around (``notes``, for the preview)."""

    texts: list[str]
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int
    schema_sent: bool
    notes: list[str] = field(default_factory=list)


def rejects_response_format(error: CallError) -> bool:
    """Whether a failed call was the endpoint refusing ``response_format`` (a 400 naming it)."""
    return error.status == 400 and FORMAT_PARAMETER in error.detail


def _add(total: int | None, more: int | None) -> int | None:
    if total is None and more is None:
        return None
    return (total or 0) + (more or 0)


def _call(version: Any, prompt: str, *, choices: int, seed: int, schema: Any) -> Choices:
    endpoint = version.endpoint
    try:
        # A grading call counts against the endpoint's limit like a generation call: one slot
        # of its cluster-wide semaphore, given back as soon as the answer is in.
        with endpoint_slot(
            endpoint.pk,
            endpoint.concurrency_limit,
            lease_seconds=lease_seconds(endpoint),
            wait_seconds=endpoint.timeout_seconds,
        ):
            answer = chat_send(
                endpoint,
                messages=[{"role": "user", "content": prompt}],
                model=version.model,
                temperature=version.temperature,
                max_tokens=version.max_tokens,
                seed=seed,
                choices=choices,
                response_format=schema,
            )
    except SemaphoreTimeout:
        raise CallError(
            "timeout",
            f"every slot of the endpoint stayed busy for {endpoint.timeout_seconds:g} s",
        ) from None
    return chat_parse_choices(answer, endpoint)


def sample_answers(version: Any, prompt: str, kind: str) -> SampleAnswers:
    """``version.samples`` answers to ``prompt`` (a filled template of ``kind``) from
    ``version`` (a ``GraderVersion``); raises :class:`CallError` when the endpoint fails."""
    schema: dict[str, Any] | None = grade_response_format(kind)
    notes: list[str] = []
    try:
        first = _call(version, prompt, choices=version.samples, seed=version.seed, schema=schema)
    except CallError as error:
        if not rejects_response_format(error):
            raise
        notes.append(
            "The endpoint refused response_format; asked again without it and parsed the "
            "answers from text."
        )
        schema = None
        first = _call(version, prompt, choices=version.samples, seed=version.seed, schema=None)
    texts = first.texts[: version.samples]
    prompt_tokens, completion_tokens = first.prompt_tokens, first.completion_tokens
    latency_ms = first.latency_ms
    if len(texts) < version.samples:
        notes.append(
            f"The endpoint answered {len(texts)} of {version.samples} samples at once; "
            "asked once more per missing sample."
        )
    for index in range(len(texts), version.samples):
        more = _call(version, prompt, choices=1, seed=version.seed + index, schema=schema)
        texts.append(more.texts[0])
        prompt_tokens = _add(prompt_tokens, more.prompt_tokens)
        completion_tokens = _add(completion_tokens, more.completion_tokens)
        latency_ms += more.latency_ms
    return SampleAnswers(
        texts=texts,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=latency_ms,
        schema_sent=schema is not None,
        notes=notes,
    )
