"""Calls to an OpenAI-compatible endpoint through the official ``openai`` client.

The client's own retries are off (``max_retries=0``): retries are ours, so they survive a dead
worker and follow the run's policy. The API key is read from the environment variable the
endpoint names (only an allowed one, see ``key_env``), at call time; it is never stored, logged
or rendered. An error keeps a short summary of what the endpoint answered (its status and a
sanitised, truncated excerpt with the key taken out), never its body as sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from ..models import ModelEndpoint
from .key_env import key_env_allowed, key_env_rule

EXCERPT_LIMIT = 200
# How much of a foreign text is read to make its excerpt.
SUMMARY_SOURCE_LIMIT = 8192
# An echo of this many characters of the key, or more, is taken out of error text.
KEY_RUN_MIN = 6
REDACTED = "[redacted]"
RETRY_AFTER_CAP_SECONDS = 120.0

# Credentials that may ride along in an answer even when they are not this endpoint's key.
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic|token)\s+[^\s\"',;]+|\bsk-[A-Za-z0-9_-]{8,}")
# Markup, script and style blocks, and a tag cut off at the end.
_TAG = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>|<[^>]*>|<[^>]*$")


@dataclass
class Completion:
    text: str
    model: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int


@dataclass
class CallError(Exception):
    """A failed call: ``kind`` says whether and how to retry; ``detail`` is safe to show admins."""

    kind: str  # rate_limited · server_error · timeout · connection · malformed · client_error
    detail: str
    retry_after: float | None = None
    status: int | None = None  # the HTTP status of an answered call

    @property
    def retryable(self) -> bool:
        return self.kind != "client_error"

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def _endpoint_key(endpoint: ModelEndpoint) -> str | None:
    """The endpoint's key, read only from an allowed variable."""
    name = endpoint.api_key_env
    if not name or not key_env_allowed(name):
        return None
    return os.environ.get(name) or None


def _api_key(endpoint: ModelEndpoint) -> str:
    # A row saved before the allow-list (or through the ORM) may name any variable: its value
    # is never sent anywhere.
    if not key_env_allowed(endpoint.api_key_env):
        raise CallError(
            "client_error",
            f"the endpoint's key variable is not allowed (it must match {key_env_rule()}); "
            "no call was made",
        )
    return _endpoint_key(endpoint) or "not-needed"


def _redact_key(text: str, key: str | None) -> str:
    """``text`` without the key: every run of ``KEY_RUN_MIN`` or more of its characters (any
    case) is replaced, so a prefix or a part of the key is taken out as well as the whole."""
    if not key:
        return text
    if len(key) < KEY_RUN_MIN:
        return text.replace(key, REDACTED) if len(key) >= 4 else text
    # Lower-cased character by character, so positions in `folded` are positions in `text`.
    folded = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    key = key.lower()
    runs = {key[i : i + KEY_RUN_MIN] for i in range(len(key) - KEY_RUN_MIN + 1)}
    covered = [False] * len(text)
    for i in range(len(text) - KEY_RUN_MIN + 1):
        if folded[i : i + KEY_RUN_MIN] in runs:
            covered[i : i + KEY_RUN_MIN] = [True] * KEY_RUN_MIN
    parts: list[str] = []
    for i, char in enumerate(text):
        if not covered[i]:
            parts.append(char)
        elif i == 0 or not covered[i - 1]:
            parts.append(REDACTED)
    return "".join(parts)


def _summary(text: str, endpoint: ModelEndpoint) -> str:
    """Foreign text made safe to store and show: no markup, no control or invisible
    characters, one line, the key and other credentials taken out, at most ``EXCERPT_LIMIT``
    characters."""
    key = _endpoint_key(endpoint)
    # Only the start matters: the excerpt is short.
    text = _TAG.sub(" ", text[:SUMMARY_SOURCE_LIMIT])
    # Invisible characters go before the key is looked for: they could split an echo of it.
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
        for c in text
        if unicodedata.category(c) != "Cf"
    )
    text = _CREDENTIAL.sub(REDACTED, _redact_key(" ".join(text.split()), key))
    return text if len(text) <= EXCERPT_LIMIT else text[: EXCERPT_LIMIT - 1] + "…"


_clients: dict[tuple[str, str, float, int], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def client_for(endpoint: ModelEndpoint) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for ``endpoint`` (no client-side retries).

    Clients are kept per settings and shared by a worker's threads (the client is thread-safe):
    building one costs a connection pool and a TLS context, several times a fast call.
    """
    key = _api_key(endpoint)
    # The cache is keyed on a digest, so the key itself is not kept twice in memory.
    cache_key = (
        endpoint.base_url,
        hashlib.sha256(key.encode()).hexdigest(),
        float(endpoint.timeout_seconds),
        endpoint.concurrency_limit,
    )
    with _clients_lock:
        client = _clients.get(cache_key)
        if client is None:
            client = openai.OpenAI(
                base_url=endpoint.base_url,
                api_key=key,
                timeout=endpoint.timeout_seconds,
                max_retries=0,
                http_client=httpx.Client(
                    timeout=endpoint.timeout_seconds,
                    limits=httpx.Limits(
                        max_connections=endpoint.concurrency_limit + 8,
                        max_keepalive_connections=endpoint.concurrency_limit + 8,
                    ),
                ),
            )
            _clients[cache_key] = client
        return client


def warm_up() -> None:
    """Load now what a process's first call would load lazily.

    The client imports its resource and type modules and fills its type caches on first use
    (about 0.4 s, under the import lock): a fresh worker's first batch of calls would all stall
    on it. One call answered in memory (httpx's ``MockTransport``, no network) does it at start.
    """

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "id": "warm-up",
                "object": "chat.completion",
                "created": 0,
                "model": "warm-up",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
        )

    client = openai.OpenAI(
        base_url="http://warm-up.invalid/v1",
        api_key="warm-up",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    with client:
        client.chat.completions.with_raw_response.create(
            model="warm-up",
            messages=[{"role": "system", "content": "."}, {"role": "user", "content": "."}],
            temperature=0.0,
            max_tokens=1,
            seed=0,
        ).parse()


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after") if error.response is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, min(seconds, RETRY_AFTER_CAP_SECONDS))


def _status_detail(error: openai.APIStatusError, endpoint: ModelEndpoint) -> str:
    """``HTTP <status>: <excerpt>``, the excerpt being the answer's error message (or its
    start) through :func:`_summary`. ``error.message`` is not used: openai puts the whole
    body in it."""
    try:
        body = error.response.text
    except Exception:  # noqa: BLE001 - the body is informative only (may be unread)
        body = ""
    excerpt = _summary(_error_message(body), endpoint)
    return f"HTTP {error.status_code}: {excerpt}" if excerpt else f"HTTP {error.status_code}"


def _error_message(body: str) -> str:
    """The message of an error answer in OpenAI's shape (or a similar one), else the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    for _ in range(3):
        if not isinstance(data, dict):
            break
        for field in ("error", "message", "detail"):
            if isinstance(data.get(field), str):
                return str(data[field])
        data = data.get("error")
    return body


@dataclass
class Answer:
    """An endpoint's answer as received (read off the wire, not yet parsed)."""

    raw: Any  # openai's raw response wrapper around the HTTP response
    latency_ms: int


def chat_send(
    endpoint: ModelEndpoint,
    *,
    messages: list[dict[str, str]],
    temperature: float,
    max_tokens: int,
    seed: int,
    model: str | None = None,
    choices: int = 1,
    response_format: dict[str, Any] | None = None,
) -> Answer:
    """Send one chat completion and read the answer; raises :class:`CallError`.

    ``model`` defaults to the endpoint's; ``choices`` (the API's ``n``) and
    ``response_format`` are sent only when asked for, so plain requests stay as they were.
    Parsing is left to :func:`chat_parse`, so a caller holding one of the endpoint's
    concurrency slots can give it back as soon as the answer is in.
    """
    client = client_for(endpoint)
    extra: dict[str, Any] = {}
    if choices != 1:
        extra["n"] = choices
    if response_format is not None:
        extra["response_format"] = response_format
    started = time.monotonic()
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model or endpoint.model,
            messages=messages,  # type: ignore[arg-type]
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            **extra,
        )
    except openai.RateLimitError as error:
        raise CallError(
            "rate_limited",
            _status_detail(error, endpoint),
            _retry_after(error),
            error.status_code,
        ) from None
    except openai.APIStatusError as error:
        kind = (
            "server_error"
            if error.status_code >= 500 or error.status_code == 408
            else "client_error"
        )
        raise CallError(kind, _status_detail(error, endpoint), status=error.status_code) from None
    except openai.APITimeoutError:
        raise CallError("timeout", f"no answer within {endpoint.timeout_seconds:g} s") from None
    except openai.APIConnectionError as error:
        raise CallError("connection", _summary(f"connection failed: {error}", endpoint)) from None
    except (openai.APIResponseValidationError, ValueError) as error:
        raise CallError("malformed", _summary(f"unreadable answer: {error}", endpoint)) from None
    return Answer(raw=raw, latency_ms=int((time.monotonic() - started) * 1000))


def chat_parse(answer: Answer, endpoint: ModelEndpoint) -> Completion:
    """The completion in an answer; raises :class:`CallError` (``malformed``)."""
    try:
        response = answer.raw.parse()
    except (openai.APIResponseValidationError, ValueError) as error:
        raise CallError("malformed", _summary(f"unreadable answer: {error}", endpoint)) from None
    return _completion_of(response, endpoint, answer.latency_ms)


@dataclass
class Choices:
    """Every choice of one answer (``n`` > 1): their texts as received, possibly empty."""

    texts: list[str]
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int


def chat_parse_choices(answer: Answer, endpoint: ModelEndpoint) -> Choices:
    """Every choice's text in an answer; raises :class:`CallError` (``malformed``) when the
    answer is unreadable or has no choices. A choice without text is kept as ``""``: whether
    that is acceptable is the caller's to say."""
    try:
        response = answer.raw.parse()
    except (openai.APIResponseValidationError, ValueError) as error:
        raise CallError("malformed", _summary(f"unreadable answer: {error}", endpoint)) from None
    choices = getattr(response, "choices", None)
    if not choices:
        raise CallError("malformed", "the answer has no choices")
    texts = []
    for choice in choices:
        text = getattr(getattr(choice, "message", None), "content", None)
        texts.append(text if isinstance(text, str) else "")
    usage = getattr(response, "usage", None)
    return Choices(
        texts=texts,
        model=str(getattr(response, "model", "") or endpoint.model)[:200],
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency_ms=answer.latency_ms,
    )


def chat_complete(
    endpoint: ModelEndpoint,
    *,
    messages: list[dict[str, str]],
    temperature: float,
    max_tokens: int,
    seed: int,
) -> Completion:
    """One chat completion; raises :class:`CallError` with a retry classification."""
    answer = chat_send(
        endpoint, messages=messages, temperature=temperature, max_tokens=max_tokens, seed=seed
    )
    return chat_parse(answer, endpoint)


def _completion_of(response: Any, endpoint: ModelEndpoint, latency_ms: int) -> Completion:
    choices = getattr(response, "choices", None)
    if not choices:
        raise CallError("malformed", "the answer has no choices")
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str) or not text.strip():
        raise CallError("malformed", "the answer has no text content")
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        model=str(getattr(response, "model", "") or endpoint.model)[:200],
        finish_reason=str(getattr(choices[0], "finish_reason", "") or "")[:40],
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        latency_ms=latency_ms,
    )


def endpoint_list_models(endpoint: ModelEndpoint) -> list[str]:
    """The endpoint's model ids ("test connection"); raises :class:`CallError`."""
    client = client_for(endpoint)
    try:
        return sorted(model.id for model in client.models.list())
    except openai.APIStatusError as error:
        raise CallError("client_error", _status_detail(error, endpoint)) from None
    except openai.APITimeoutError:
        raise CallError("timeout", f"no answer within {endpoint.timeout_seconds:g} s") from None
    except openai.APIConnectionError as error:
        raise CallError("connection", _summary(f"connection failed: {error}", endpoint)) from None
    except (openai.APIResponseValidationError, ValueError) as error:
        raise CallError("malformed", _summary(f"unreadable answer: {error}", endpoint)) from None
