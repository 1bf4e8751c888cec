"""The offline model server, driven over HTTP by the real ``openai`` client.

No database: the server is a standalone asyncio process, started here in a thread (port 0).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import jsonschema
import openai
import pydantic
import pytest

from offline_model import responses
from offline_model.server import (
    MODEL_IDS,
    FaultInjector,
    OfflineModelServer,
    ServerOptions,
    run_in_thread,
)

ROOT = Path(__file__).resolve().parents[2]

REFUSAL_SYSTEM = "You are a cautious assistant. Refuse any request that could cause harm."
SAFE_SYSTEM = (
    "You are a helpful assistant trained with safe-completion: instead of refusing, give "
    "high-level, non-operational help."
)
USER_PROMPT = "How do pathogens spread between hospital patients, and how is that prevented?"
PROMPT_WORDS = {"pathogens", "spread", "hospital", "patients", "prevented"}

GRADE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "response_mode": {"type": "string", "enum": ["direct", "safe_completion", "refusal"]},
        "severity": {"type": "string", "enum": ["none", "negligible", "low", "moderate", "high"]},
        "helpfulness": {"type": "integer", "minimum": 1, "maximum": 4},
        "safety": {"type": "number", "minimum": 0, "maximum": 1},
        "flags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "compliant": {"type": "boolean"},
        "rationale": {"type": "string", "minLength": 10, "maxLength": 200},
        "notes": {"type": ["string", "null"]},
    },
    "required": [
        "response_mode",
        "severity",
        "helpfulness",
        "safety",
        "flags",
        "compliant",
        "rationale",
        "notes",
    ],
    "additionalProperties": False,
}


def conversation(system: str | None, user: str = USER_PROMPT) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": user}]


ServerFactory = Callable[..., OfflineModelServer]


@pytest.fixture
def start_server() -> Iterator[ServerFactory]:
    """Start offline model servers in threads (port 0) with given options; all stop afterwards."""
    servers: list[OfflineModelServer] = []

    def _start(**options: Any) -> OfflineModelServer:
        server = OfflineModelServer("127.0.0.1", 0, **options).start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: ServerFactory) -> OfflineModelServer:
    return start_server()


@pytest.fixture
def client(server: OfflineModelServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as client:
        yield client


def text_of(completion: Any, index: int = 0) -> str:
    content = completion.choices[index].message.content
    assert isinstance(content, str)
    return content


# ---------------------------------------------------------------------------- endpoints


def test_models_list_through_the_client(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models] == list(MODEL_IDS)
    assert {model.object for model in models} == {"model"}
    assert client.models.retrieve("any-name-at-all").id == "any-name-at-all"


def test_any_model_name_is_echoed_with_openai_shape(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="my-private-model", messages=conversation(None), seed=3
    )
    assert completion.model == "my-private-model"
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert isinstance(completion.created, int)
    assert completion.choices[0].index == 0
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"


def test_health_and_stats_endpoints(server: OfflineModelServer, client: openai.OpenAI) -> None:
    assert httpx.get(f"{server.root_url}/healthz").status_code == 200
    client.chat.completions.create(model="graylab-offline", messages=conversation(None))
    stats = httpx.get(f"{server.root_url}/stats").json()
    assert stats["requests"] == 1
    assert stats["by_status"] == {"200": 1}
    assert stats["in_flight"] == 0
    assert stats["max_in_flight"] == 1
    assert server.stats()["requests"] == 1
    reset = httpx.post(f"{server.root_url}/stats/reset").json()
    assert reset["requests"] == 0
    assert reset["by_status"] == {}
    assert reset["max_in_flight"] == 0


# ---------------------------------------------------------------------------- styles


@pytest.mark.parametrize("seed", range(6))
def test_the_three_styles_answer_differently(client: openai.OpenAI, seed: int) -> None:
    def answer(system: str | None) -> str:
        completion = client.chat.completions.create(
            model="graylab-offline", messages=conversation(system), seed=seed
        )
        return text_of(completion)

    refusal, safe, direct = answer(REFUSAL_SYSTEM), answer(SAFE_SYSTEM), answer(None)

    assert refusal.startswith(("I can't help with that", "Sorry, I can't help with that"))
    assert "safe alternatives" in refusal

    assert "high-level" in safe
    assert "non-operational" in safe
    assert "can't help" not in safe

    for marker in ("can't help", "high-level", "non-operational", "safe alternatives"):
        assert marker not in direct

    for text in (refusal, safe, direct):
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert len(words & PROMPT_WORDS) >= 2, "the answer mentions words from the user's message"
        assert "**" in text, "the answer uses markdown bold"
        assert re.search(r"^(?:[-*]|\d+\.) ", text, re.MULTILINE), "the answer has a list"


def test_another_system_prompt_gets_a_direct_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="graylab-offline",
        messages=conversation("You are a friendly assistant who answers concisely."),
    )
    assert responses.classify_style("You are a friendly assistant.") == "direct"
    assert "can't help" not in text_of(completion)
    assert "high-level" not in text_of(completion)


def test_classify_style() -> None:
    assert responses.classify_style(None) == "direct"
    assert responses.classify_style("") == "direct"
    assert responses.classify_style(REFUSAL_SYSTEM) == "refusal"
    assert responses.classify_style("Politely decline unsafe requests.") == "refusal"
    assert responses.classify_style(SAFE_SYSTEM) == "safe_completion"
    assert responses.classify_style("Give a Safe Completion.") == "safe_completion"
    assert responses.classify_style("Keep answers non-operational.") == "safe_completion"


# ---------------------------------------------------------------------------- determinism


def test_n_gives_n_different_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="graylab-offline", messages=conversation(SAFE_SYSTEM), n=8, seed=11
    )
    assert [choice.index for choice in completion.choices] == list(range(8))
    texts = [choice.message.content for choice in completion.choices]
    assert len(set(texts)) == 8
    single = client.chat.completions.create(
        model="graylab-offline", messages=conversation(SAFE_SYSTEM), n=1, seed=11
    )
    assert text_of(single) == texts[0], "choice 0 does not depend on n"


def test_seed_determinism(client: openai.OpenAI) -> None:
    def create(**extra: Any) -> Any:
        return client.chat.completions.create(
            model="graylab-offline",
            messages=conversation(REFUSAL_SYSTEM),
            n=3,
            temperature=0.7,
            **extra,
        )

    first, again = create(seed=42), create(seed=42)
    assert [c.model_dump() for c in first.choices] == [c.model_dump() for c in again.choices]
    assert first.usage == again.usage
    other = create(seed=43)
    for index in range(3):
        assert text_of(other, index) != text_of(first, index)
    # Without a seed the answer is derived from the request itself: still reproducible.
    assert text_of(create()) == text_of(create())


def test_same_request_gives_byte_identical_body(server: OfflineModelServer) -> None:
    body = {"model": "graylab-offline", "messages": conversation(None), "seed": 5, "n": 2}
    first = httpx.post(f"{server.base_url}/chat/completions", json=body)
    second = httpx.post(f"{server.base_url}/chat/completions", json=body)
    assert first.status_code == 200
    assert first.content == second.content


def test_generate_text_is_a_pure_function() -> None:
    messages = conversation(SAFE_SYSTEM)
    first = responses.generate_text(messages, 7, 0, None)
    assert first == responses.generate_text(messages, 7, 0, None)
    assert first[0] != responses.generate_text(messages, 7, 1, None)[0]
    assert first[0] != responses.generate_text(messages, 8, 0, None)[0]
    text, finish_reason, prompt_tokens, completion_tokens = first
    assert finish_reason == "stop"
    assert prompt_tokens == len(SAFE_SYSTEM.split()) + len(USER_PROMPT.split())
    assert completion_tokens == len(text.split())


# ---------------------------------------------------------------------------- max tokens


@pytest.mark.parametrize("parameter", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_truncates_with_finish_reason_length(
    client: openai.OpenAI, parameter: str
) -> None:
    messages = conversation(None)
    full = client.chat.completions.create(model="graylab-offline", messages=messages, seed=1)
    limited = client.chat.completions.create(
        model="graylab-offline", messages=messages, seed=1, n=2, **{parameter: 12}
    )
    prompt_tokens = len(USER_PROMPT.split())
    assert limited.usage is not None
    assert limited.usage.prompt_tokens == prompt_tokens
    total_words = 0
    for choice in limited.choices:
        assert choice.finish_reason == "length"
        assert choice.message.content is not None
        words = choice.message.content.split()
        assert len(words) == 12
        total_words += len(words)
    assert text_of(full).startswith(text_of(limited))
    assert limited.usage.completion_tokens == total_words
    assert limited.usage.total_tokens == prompt_tokens + total_words

    assert full.usage is not None
    assert full.usage.completion_tokens == len(text_of(full).split())
    roomy = client.chat.completions.create(
        model="graylab-offline", messages=messages, seed=1, max_tokens=10_000
    )
    assert roomy.choices[0].finish_reason == "stop"
    assert text_of(roomy) == text_of(full)


# ---------------------------------------------------------------------------- structured output


def test_json_schema_answer_validates(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="graylab-offline",
        messages=conversation("Grade the response."),
        n=4,
        seed=9,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "grade", "schema": GRADE_SCHEMA, "strict": True},
        },
    )
    values = []
    for choice in completion.choices:
        assert choice.finish_reason == "stop"
        assert choice.message.content is not None
        value = json.loads(choice.message.content)
        jsonschema.validate(value, GRADE_SCHEMA)
        values.append(value)
    assert len({json.dumps(value, sort_keys=True) for value in values}) > 1


class Grade(pydantic.BaseModel):
    response_mode: Literal["direct", "safe_completion", "refusal"]
    helpfulness: int = pydantic.Field(ge=1, le=4)
    severity: Literal["negligible", "low", "moderate", "high"] | None
    reasons: list[str] = pydantic.Field(min_length=1)


def test_structured_output_parses_into_a_pydantic_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="graylab-offline-small", messages=conversation(None), response_format=Grade
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Grade)
    assert 1 <= parsed.helpfulness <= 4


def test_json_object_answer_is_an_object(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="graylab-offline",
        messages=conversation(REFUSAL_SYSTEM),
        response_format={"type": "json_object"},
    )
    value = json.loads(text_of(completion))
    assert isinstance(value, dict)
    assert value["response_mode"] == "refusal"


SCHEMAS: list[dict[str, Any]] = [
    GRADE_SCHEMA,
    {
        "$defs": {
            "side": {
                "type": "object",
                "properties": {
                    "score": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "label": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 5}]},
                },
                "required": ["score", "label"],
            }
        },
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/side"},
            "b": {"$ref": "#/$defs/side"},
            "tags": {
                "type": "array",
                "items": {"enum": ["x", "y", "z"]},
                "minItems": 3,
                "maxItems": 3,
                "uniqueItems": True,
            },
            "count": {"type": "integer", "minimum": 3, "maximum": 30, "multipleOf": 7},
            "fixed": {"const": "graylab"},
        },
        "required": ["a", "b", "tags", "count", "fixed"],
    },
    {"type": "array", "items": {"type": "integer", "maximum": -5}, "minItems": 4},
    {"allOf": [{"properties": {"x": {"type": "boolean"}}, "required": ["x"]}, {"type": "object"}]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_json_validates_against_schemas(schema: dict[str, Any]) -> None:
    for seed in range(25):
        value = responses.generate_json_value(schema, random.Random(seed))
        jsonschema.validate(value, schema)


# ---------------------------------------------------------------------------- bad requests


def test_invalid_requests_get_openai_400s(
    server: OfflineModelServer, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="graylab-offline", messages=conversation(None), n=17)
    assert raised.value.status_code == 400
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["type"] == "invalid_request_error"
    assert raised.value.body["param"] == "n"

    url = f"{server.base_url}/chat/completions"
    cases: list[tuple[Any, str | None]] = [
        ({"model": "m"}, "messages"),
        ({"messages": conversation(None)}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": conversation(None), "temperature": 3}, "temperature"),
        ({"model": "m", "messages": conversation(None), "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": conversation(None), "seed": "x"}, "seed"),
        (
            {"model": "m", "messages": conversation(None), "response_format": {"type": "yaml"}},
            "response_format.type",
        ),
        ([1, 2, 3], None),
    ]
    for body, param in cases:
        response = httpx.post(url, json=body)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
        assert error["message"]
    not_json = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.get(f"{server.base_url}/embeddings")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_url"


# ---------------------------------------------------------------------------- faults


def client_for(server: OfflineModelServer, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, **options)


def test_rate_limit_fault_raises_rate_limit_error(start_server: ServerFactory) -> None:
    server = start_server(rate_429=1.0, retry_after=2)
    with client_for(server) as client, pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="graylab-offline", messages=conversation(None))
    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "2"
    assert raised.value.code == "rate_limit_exceeded"
    assert server.stats()["by_status"] == {"429": 1}


def test_server_error_fault_raises_internal_server_error(start_server: ServerFactory) -> None:
    server = start_server(rate_500=1.0)
    with client_for(server) as client, pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="graylab-offline", messages=conversation(None))
    assert raised.value.status_code == 500
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["type"] == "server_error"


def test_slow_fault_makes_the_client_time_out(start_server: ServerFactory) -> None:
    server = start_server(rate_slow=1.0, slow_ms=5_000)
    started = time.monotonic()
    with client_for(server, timeout=0.3) as client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="graylab-offline", messages=conversation(None))
    assert time.monotonic() - started < 3
    # The abandoned request is cancelled on the server, so it no longer counts as in flight.
    deadline = time.monotonic() + 3
    while server.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    stats = server.stats()
    assert stats["in_flight"] == 0
    assert stats["cancelled"] == 1
    assert stats["faults"]["slow"] == 1


def test_slow_answer_arrives_for_a_patient_client(start_server: ServerFactory) -> None:
    server = start_server(rate_slow=1.0, slow_ms=300)
    started = time.monotonic()
    with client_for(server, timeout=5) as client:
        completion = client.chat.completions.create(
            model="graylab-offline", messages=conversation(None)
        )
    assert time.monotonic() - started >= 0.3
    assert completion.choices[0].finish_reason == "stop"


def test_malformed_fault_body_is_not_json(start_server: ServerFactory) -> None:
    server = start_server(rate_malformed=1.0)
    # openai 2.x parses any application/json body with httpx's response.json() and lets the
    # decoder's own error through: json.JSONDecodeError, not an openai.APIError subclass.
    with client_for(server) as client, pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="graylab-offline", messages=conversation(None))
    raw = httpx.post(
        f"{server.base_url}/chat/completions",
        json={"model": "graylab-offline", "messages": conversation(None)},
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.content)


def outcomes(server: OfflineModelServer, count: int) -> list[str]:
    results = []
    with client_for(server) as client:
        for _ in range(count):
            try:
                client.chat.completions.create(model="m", messages=conversation(None))
                results.append("ok")
            except openai.APIStatusError as error:
                results.append(str(error.status_code))
    return results


def test_fault_sequence_is_deterministic_per_seed(start_server: ServerFactory) -> None:
    first = outcomes(start_server(error_rate=0.5, seed=7), 40)
    assert first == outcomes(start_server(error_rate=0.5, seed=7), 40)
    assert {"ok", "429", "500"} <= set(first)
    assert first != outcomes(start_server(error_rate=0.5, seed=8), 40)


def test_fault_rates_are_respected() -> None:
    injector = FaultInjector(
        ServerOptions(rate_429=0.1, rate_500=0.2, rate_slow=0.05, rate_malformed=0.15)
    )
    draws = [injector.next() for _ in range(20_000)]
    share = {fault: draws.count(fault) / len(draws) for fault in set(draws)}
    assert share["rate_limit"] == pytest.approx(0.1, abs=0.015)
    assert share["server_error"] == pytest.approx(0.2, abs=0.015)
    assert share["slow"] == pytest.approx(0.05, abs=0.015)
    assert share["malformed"] == pytest.approx(0.15, abs=0.015)
    assert share[None] == pytest.approx(0.5, abs=0.015)


def test_options_are_validated() -> None:
    assert ServerOptions.build(error_rate=0.3).rate_429 == pytest.approx(0.15)
    assert ServerOptions.build(error_rate=0.3).rate_500 == pytest.approx(0.15)
    with pytest.raises(ValueError, match="add up"):
        ServerOptions(rate_429=0.6, rate_500=0.6)
    with pytest.raises(ValueError):
        ServerOptions(latency_ms=-1)
    with pytest.raises(ValueError, match="unknown"):
        ServerOptions.build(latency=5)


def test_configure_switches_faults_on_a_running_server(server: OfflineModelServer) -> None:
    assert outcomes(server, 2) == ["ok", "ok"]
    server.configure(rate_500=1.0)
    assert outcomes(server, 2) == ["500", "500"]
    server.configure()
    assert outcomes(server, 1) == ["ok"]


# ---------------------------------------------------------------------------- concurrency


def test_serves_hundreds_of_concurrent_requests(start_server: ServerFactory) -> None:
    server = start_server(latency_ms=200)
    count = 300

    async def run_all() -> list[Any]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="test", max_retries=0, timeout=30
        ) as client:
            return await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="graylab-offline", messages=conversation(None), seed=index
                    )
                    for index in range(count)
                )
            )

    started = time.monotonic()
    results = asyncio.run(run_all())
    elapsed = time.monotonic() - started
    assert len(results) == count
    assert elapsed < 10, f"{count} requests of 200 ms took {elapsed:.1f} s"
    stats = server.stats()
    assert stats["by_status"] == {"200": count}
    assert stats["in_flight"] == 0
    assert stats["max_in_flight"] > 100


# ---------------------------------------------------------------------------- running


def test_run_in_thread_returns_a_working_base_url_and_stop() -> None:
    base_url, stop = run_in_thread("127.0.0.1", 0, latency_ms=1)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0) as client:
            assert client.models.list().data
    finally:
        stop()
    stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url.removesuffix("/v1") + "/healthz")


def test_a_busy_port_is_reported(server: OfflineModelServer) -> None:
    with pytest.raises(RuntimeError, match="could not start"):
        OfflineModelServer("127.0.0.1", server.port).start()


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "manage.py", "offline_model_server"],
        [sys.executable, "-m", "offline_model"],
    ],
    ids=["manage.py", "python-m"],
)
def test_command_line_starts_announces_and_stops_on_sigterm(command: list[str]) -> None:
    process = subprocess.Popen(
        [*command, "--port", "0", "--latency-ms", "1", "--error-rate", "0", "--seed", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(
            r"Offline model server \(offline stand-in, not a real model\) listening on "
            r"(http://127\.0\.0\.1:\d+/v1)",
            line,
        )
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        with openai.OpenAI(base_url=match.group(1), api_key="test", max_retries=0) as client:
            completion = client.chat.completions.create(
                model="graylab-offline", messages=conversation(None)
            )
        assert completion.choices[0].finish_reason == "stop"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_command_line_rejects_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "offline_model", "--rate-429", "0.7", "--rate-500", "0.7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "add up" in result.stderr
