"""The offline model server: an OpenAI-compatible HTTP endpoint that is an offline stand-in.

It answers ``/v1/chat/completions`` deterministically in the response mode the system prompt
asks for (see :mod:`offline_model.responses`), so candidate generation works with no
network. It is a single asyncio process (aiohttp): latency is ``asyncio.sleep``, so hundreds of
concurrent requests cost almost nothing on one core. Faults — 429 with ``Retry-After``, 500,
slow answers and malformed bodies — are injected at set rates, decided per request by a
``random.Random(seed)`` stream so a run can be replayed. A request whose ``response_format``
asks for a Graylab grade is answered by the grader stand-in (:mod:`offline_model.grading`),
wrong on a settable share of items.

Three ways to run it:

- ``python manage.py offline_model_server --port 8765`` (the thin Django wrapper), or
  ``python -m offline_model --port 8765`` (no Django needed);
- :func:`run_in_thread` / :class:`OfflineModelServer` for tests of other modules;
- :func:`create_app` for aiohttp's own test client.

This module never imports Django.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

from offline_model import grading, responses

MODEL_IDS: tuple[str, ...] = ("graylab-offline", "graylab-offline-small")
DEFAULT_MODEL = MODEL_IDS[0]
MAX_CHOICES = 16
# A fixed timestamp: answers must be byte-identical for identical requests.
CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z
SYSTEM_FINGERPRINT = "fp_offline_stand_in"
BANNER = "Offline model server (offline stand-in, not a real model) listening on {url}"

Fault = Literal["rate_limit", "server_error", "slow", "malformed"]
FAULTS: tuple[Fault, ...] = ("rate_limit", "server_error", "slow", "malformed")
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


# --------------------------------------------------------------------------------------------
# Options and fault injection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerOptions:
    """How the server behaves. Rates are probabilities per chat-completion request.

    ``latency_ms`` applies to every chat-completion answer (faults included); a ``slow`` answer
    additionally waits ``slow_ms`` first. ``retry_after`` is the ``Retry-After`` header value
    (seconds) sent with injected 429s.

    ``grader_error_rate`` is the share of graded items the grader stand-in tends to get wrong
    (see :mod:`offline_model.grading`); ``seed`` picks which items those are. To imitate weaker
    servers for tests of a client, ``ignore_response_format`` answers structured-output
    requests with the JSON inside plain words, and ``ignore_n`` always answers one choice.
    """

    latency_ms: float = 0.0
    seed: int = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_slow: float = 0.0
    rate_malformed: float = 0.0
    slow_ms: float = 30_000.0
    retry_after: float = 1.0
    grader_error_rate: float = grading.DEFAULT_GRADER_ERROR_RATE
    ignore_response_format: bool = False
    ignore_n: bool = False

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_500", "rate_slow", "rate_malformed", "grader_error_rate"):
            rate = getattr(self, name)
            if not (isinstance(rate, int | float) and 0.0 <= rate <= 1.0):
                raise ValueError(f"{name} must be between 0 and 1, got {rate!r}")
        if self.total_fault_rate > 1.0 + 1e-9:
            raise ValueError(
                f"the fault rates add up to {self.total_fault_rate:g}, more than 1 "
                "(429 + 500 + slow + malformed)"
            )
        for name in ("latency_ms", "slow_ms", "retry_after"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        for name in ("ignore_response_format", "ignore_n"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def total_fault_rate(self) -> float:
        return self.rate_429 + self.rate_500 + self.rate_slow + self.rate_malformed

    @classmethod
    def build(cls, *, error_rate: float = 0.0, **options: Any) -> ServerOptions:
        """Make options from keyword arguments; ``error_rate`` is split evenly over 429 and 500."""
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown server options: {', '.join(sorted(unknown))}")
        if not (isinstance(error_rate, int | float) and 0.0 <= error_rate <= 1.0):
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate!r}")
        if error_rate:
            options["rate_429"] = float(options.get("rate_429", 0.0)) + error_rate / 2
            options["rate_500"] = float(options.get("rate_500", 0.0)) + error_rate / 2
        return cls(**options)


class FaultInjector:
    """Decides each request's fault from one ``random.Random(seed)`` stream.

    Exactly one draw per request, whatever the rates, so the n-th request of a run always gets
    the same decision for the same seed and rates.
    """

    def __init__(self, options: ServerOptions) -> None:
        self._rng = random.Random(options.seed)
        self._thresholds: list[tuple[float, Fault]] = []
        cumulative = 0.0
        for fault, rate in zip(
            FAULTS,
            (options.rate_429, options.rate_500, options.rate_slow, options.rate_malformed),
            strict=True,
        ):
            cumulative += rate
            self._thresholds.append((cumulative, fault))
        self.count = 0

    def next(self) -> Fault | None:
        """The fault for the next request, or ``None`` for a normal answer."""
        draw = self._rng.random()
        self.count += 1
        for threshold, fault in self._thresholds:
            if draw < threshold:
                return fault
        return None


@dataclass
class ServerState:
    """Options, fault stream and request statistics of one running app (one event loop)."""

    options: ServerOptions
    faults: FaultInjector
    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0
    cancelled: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    fault_counts: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_options(cls, options: ServerOptions) -> ServerState:
        return cls(options=options, faults=FaultInjector(options))

    def configure(self, options: ServerOptions) -> None:
        """Switch options and restart the fault stream from the (new) seed."""
        self.options = options
        self.faults = FaultInjector(options)

    def snapshot(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "requests": self.requests,
            "by_status": dict(sorted(self.by_status.items())),
            "cancelled": self.cancelled,
            "faults": {fault: self.fault_counts.get(fault, 0) for fault in FAULTS},
            "options": asdict(self.options),
        }

    def reset(self) -> None:
        """Zero the counters; requests still in flight stay counted in ``in_flight``."""
        self.max_in_flight = self.in_flight
        self.requests = 0
        self.cancelled = 0
        self.by_status.clear()
        self.fault_counts.clear()


STATE_KEY = web.AppKey("offline_model_state", ServerState)


# --------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------


class RequestError(Exception):
    """A request the server rejects with 400, in OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat-completion request that shape the answer."""

    model: str
    messages: list[dict[str, Any]]
    n: int = 1
    seed: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    response_format: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None
    json_schema_name: str | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _optional_int(body: Mapping[str, Any], name: str, minimum: int, maximum: int | None) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value):
        raise RequestError(f"Invalid type for '{name}': expected an integer.", name, "invalid_type")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise RequestError(
            f"Invalid '{name}': {value} must be {bound}.", name, "integer_out_of_range"
        )
    return value


def _parse_messages(value: Any) -> list[dict[str, Any]]:
    if value is None:
        raise RequestError(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(value, list):
        raise RequestError("Invalid type for 'messages': expected an array.", "messages")
    if not value:
        raise RequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            "messages",
            "empty_array",
        )
    for position, message in enumerate(value):
        param = f"messages[{position}]"
        if not isinstance(message, dict):
            raise RequestError(f"Invalid type for '{param}': expected an object.", param)
        role = message.get("role")
        if role not in _ROLES:
            raise RequestError(
                f"Invalid value for '{param}.role': {role!r}. Supported values are: "
                + ", ".join(sorted(f"'{name}'" for name in _ROLES))
                + ".",
                f"{param}.role",
                "invalid_value",
            )
        content = message.get("content")
        if content is None and role not in ("assistant", "function", "tool"):
            raise RequestError(
                f"Missing required parameter: '{param}.content'.",
                f"{param}.content",
                "missing_required_parameter",
            )
        if content is not None and not isinstance(content, str | list):
            raise RequestError(
                f"Invalid type for '{param}.content': expected a string or an array of parts.",
                f"{param}.content",
                "invalid_type",
            )
    return value


def _parse_response_format(
    value: Any,
) -> tuple[Literal["text", "json_object", "json_schema"], dict[str, Any] | None, str | None]:
    """The format's type, its JSON schema and the schema's name (``None`` where absent)."""
    if value is None:
        return "text", None, None
    if not isinstance(value, dict):
        raise RequestError(
            "Invalid type for 'response_format': expected an object.", "response_format"
        )
    kind = value.get("type")
    if kind == "text":
        return "text", None, None
    if kind == "json_object":
        return "json_object", None, None
    if kind != "json_schema":
        raise RequestError(
            f"Invalid value for 'response_format.type': {kind!r}. Supported values are: "
            "'text', 'json_object' and 'json_schema'.",
            "response_format.type",
            "invalid_value",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise RequestError(
            "Missing required parameter: 'response_format.json_schema'.",
            "response_format.json_schema",
            "missing_required_parameter",
        )
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError(
            "Missing required parameter: 'response_format.json_schema.name'.",
            "response_format.json_schema.name",
            "missing_required_parameter",
        )
    schema = spec.get("schema")
    if schema is None:
        return "json_schema", None, name
    if not isinstance(schema, dict):
        raise RequestError(
            "Invalid type for 'response_format.json_schema.schema': expected an object.",
            "response_format.json_schema.schema",
            "invalid_type",
        )
    return "json_schema", schema, name


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a decoded ``/v1/chat/completions`` body; raises :class:`RequestError`."""
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object.")
    model = body.get("model")
    if model is None:
        raise RequestError(
            "Missing required parameter: 'model'.", "model", "missing_required_parameter"
        )
    if not isinstance(model, str) or not model.strip():
        raise RequestError("Invalid 'model': expected a non-empty string.", "model")
    messages = _parse_messages(body.get("messages"))
    if body.get("stream"):
        raise RequestError(
            "Streaming is not supported by the offline model server (an offline stand-in).",
            "stream",
            "unsupported_value",
        )
    n = _optional_int(body, "n", 1, MAX_CHOICES)
    seed = _optional_int(body, "seed", -(2**63), 2**64 - 1)
    temperature = body.get("temperature")
    if temperature is not None:
        if not _is_number(temperature):
            raise RequestError(
                "Invalid type for 'temperature': expected a number.", "temperature", "invalid_type"
            )
        if not 0 <= temperature <= 2:
            raise RequestError(
                f"Invalid 'temperature': {temperature} must be between 0 and 2.",
                "temperature",
                "decimal_out_of_range",
            )
    max_tokens = _optional_int(body, "max_tokens", 1, None)
    max_completion_tokens = _optional_int(body, "max_completion_tokens", 1, None)
    limits = [limit for limit in (max_tokens, max_completion_tokens) if limit is not None]
    kind, schema, schema_name = _parse_response_format(body.get("response_format"))
    return ChatRequest(
        model=model,
        messages=messages,
        n=1 if n is None else n,
        seed=seed,
        temperature=None if temperature is None else float(temperature),
        max_tokens=min(limits) if limits else None,
        response_format=kind,
        json_schema=schema,
        json_schema_name=schema_name,
    )


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------


def _structured_content(request: ChatRequest, index: int, options: ServerOptions) -> str:
    """One choice of a structured-output request: a grade when the schema asks for one (see
    :mod:`offline_model.grading`), else JSON generated to fit the schema."""
    kind = (
        grading.grading_kind(request.json_schema_name, request.json_schema)
        if request.response_format == "json_schema"
        else None
    )
    if kind is not None:
        content = grading.grade_json_text(
            kind,
            request.messages,
            request.json_schema,
            server_seed=options.seed,
            error_rate=options.grader_error_rate,
            sample=grading.SampleContext(
                request.seed, index, model=request.model, temperature=request.temperature
            ),
        )
        return grading.grade_as_plain_text(content) if options.ignore_response_format else content
    try:
        content = responses.generate_json_text(
            request.messages,
            request.json_schema if request.response_format == "json_schema" else None,
            request.seed,
            index,
            model=request.model,
            temperature=request.temperature,
        )
    except responses.SchemaError as error:
        raise RequestError(
            f"Invalid schema for response_format: {error}",
            "response_format.json_schema.schema",
            "invalid_json_schema",
        ) from error
    if options.ignore_response_format:
        return f"Here is the JSON you asked for: {content}\n\nLet me know if you need more."
    return content


def build_completion(request: ChatRequest, options: ServerOptions | None = None) -> dict[str, Any]:
    """The full ``chat.completion`` object for a valid request (deterministic)."""
    options = options or ServerOptions()
    choices: list[dict[str, Any]] = []
    completion_tokens = 0
    prompt_tokens = responses.count_prompt_tokens(request.messages)
    for index in range(1 if options.ignore_n else request.n):
        if request.response_format == "text":
            text, finish_reason, _, tokens = responses.generate_text(
                request.messages,
                request.seed,
                index,
                request.max_tokens,
                model=request.model,
                temperature=request.temperature,
            )
        else:
            full = _structured_content(request, index, options)
            # Like a real model, a JSON answer cut by max_tokens is cut mid-document.
            text, finish_reason, _, tokens = responses.finish(full, request.max_tokens, 0)
        completion_tokens += tokens
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        )
    identity = responses.derive_seed(
        request.model,
        request.messages,
        request.n,
        request.seed,
        request.temperature,
        request.max_tokens,
        request.response_format,
        request.json_schema,
    )
    return {
        "id": f"chatcmpl-offline-{identity:016x}",
        "object": "chat.completion",
        "created": CREATED,
        "model": request.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "graylab-offline"}


def _retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


# --------------------------------------------------------------------------------------------
# Handlers and middleware
# --------------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    options = state.options
    # Decided before the first await, so faults follow the order in which requests arrive.
    fault = state.faults.next()
    if fault is not None:
        state.fault_counts[fault] += 1
    if options.latency_ms:
        await asyncio.sleep(options.latency_ms / 1000)
    if fault == "rate_limit":
        return _json_response(
            error_body(
                "Rate limit reached for the offline model server (injected fault). "
                f"Please try again in {_retry_after_header(options.retry_after)}s.",
                "requests",
                None,
                "rate_limit_exceeded",
            ),
            status=429,
            headers={"Retry-After": _retry_after_header(options.retry_after)},
        )
    if fault == "server_error":
        return _json_response(
            error_body(
                "The offline model server had an error while processing your request "
                "(injected fault).",
                "server_error",
            ),
            status=500,
        )
    try:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as error:
            raise RequestError(
                "We could not parse the JSON body of your request. (HINT: This likely means "
                f"you aren't using your HTTP library correctly.) {error}"
            ) from error
        chat = parse_chat_request(body)
        payload = build_completion(chat, options)
    except RequestError as error:
        return _json_response(
            error_body(error.message, "invalid_request_error", error.param, error.code),
            status=400,
        )
    if fault == "slow":
        await asyncio.sleep(options.slow_ms / 1000)
    encoded = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if fault == "malformed":
        # Truncated mid-document: still labelled JSON, no longer parseable.
        encoded = encoded[: max(1, len(encoded) // 2)]
    return web.Response(body=encoded, content_type="application/json")


async def list_models(request: web.Request) -> web.StreamResponse:
    return _json_response({"object": "list", "data": [_model_object(m) for m in MODEL_IDS]})


async def retrieve_model(request: web.Request) -> web.StreamResponse:
    # Any model name is accepted (and echoed) by chat completions, so every name "exists".
    return _json_response(_model_object(request.match_info["model"]))


async def healthz(request: web.Request) -> web.StreamResponse:
    return _json_response({"status": "ok", "offline_stand_in": True})


async def index(request: web.Request) -> web.StreamResponse:
    return _json_response(
        {
            "name": "Graylab offline model server",
            "description": "An offline stand-in for an OpenAI-compatible endpoint, "
            "not a real model.",
            "base_url": "/v1",
            "models": list(MODEL_IDS),
        }
    )


async def stats(request: web.Request) -> web.StreamResponse:
    return _json_response(request.app[STATE_KEY].snapshot())


async def stats_reset(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    state.reset()
    return _json_response(state.snapshot())


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer unknown routes and unexpected failures in OpenAI's JSON error shape."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        error_type = "invalid_request_error" if error.status < 500 else "server_error"
        message = error.reason
        code: str | None = None
        if error.status == 404:
            message = f"Unknown request URL: {request.method} {request.path}."
            code = "unknown_url"
        elif error.status == 405:
            message = f"Method {request.method} is not allowed for {request.path}."
            code = "method_not_allowed"
        return _json_response(error_body(message, error_type, None, code), status=error.status)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - the last resort: a JSON 500, not a traceback
        return _json_response(
            error_body(f"The offline model server failed: {type(error).__name__}", "server_error"),
            status=500,
        )


@web.middleware
async def stats_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count API requests from arrival to response (``/v1/…`` only, not health or stats)."""
    if not request.path.startswith("/v1/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    state.requests += 1
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    except asyncio.CancelledError:
        # The client went away (aiohttp cancels the handler), e.g. after its own timeout.
        state.cancelled += 1
        raise
    except Exception:
        status = 500
        raise
    finally:
        state.in_flight -= 1
        if status is not None:
            state.by_status[str(status)] += 1


def create_app(options: ServerOptions | None = None) -> web.Application:
    """The aiohttp application (factory). Its state lives under :data:`STATE_KEY`."""
    app = web.Application(
        middlewares=[errors_middleware, stats_middleware], client_max_size=32 * 1024**2
    )
    app[STATE_KEY] = ServerState.for_options(options or ServerOptions())
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats/reset", stats_reset)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", retrieve_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    return app


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to a usable address
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _bound_port(runner: web.AppRunner) -> int:
    addresses = runner.addresses
    if not addresses:
        raise RuntimeError("the offline model server is not listening on any address")
    # Prefer IPv4: with a host name and port 0 each address family may get its own port.
    for address in addresses:
        if isinstance(address, tuple) and len(address) == 2:
            return int(address[1])
    return int(addresses[0][1])


async def start_runner(
    host: str, port: int, options: ServerOptions, *, shutdown_timeout: float
) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (``await runner.cleanup()`` stops) and the port."""
    app = create_app(options)
    # handler_cancellation: when a client gives up (its timeout), its slow request is cancelled,
    # so in_flight drops at once and shutdown does not wait for answers nobody will read.
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    try:
        # A backlog of 1024 so hundreds of simultaneous connects are not dropped and retried.
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        bound = _bound_port(runner)
    except BaseException:
        await runner.cleanup()
        raise
    return runner, bound


async def serve(
    host: str,
    port: int,
    options: ServerOptions,
    *,
    announce: Callable[[str], None] = print,
    shutdown_timeout: float = 5.0,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly. ``announce`` gets the start line."""
    runner, bound = await start_runner(host, port, options, shutdown_timeout=shutdown_timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        announce(BANNER.format(url=f"http://{_url_host(host)}:{bound}/v1"))
        await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        await runner.cleanup()


def run(
    host: str,
    port: int,
    options: ServerOptions,
    *,
    announce: Callable[[str], None] = print,
) -> None:
    """Blocking entry point of the command line: serve until SIGINT or SIGTERM."""
    asyncio.run(serve(host, port, options, announce=announce))


class OfflineModelServer:
    """The server on its own event loop in a daemon thread — for tests of other modules.

    >>> server = OfflineModelServer(latency_ms=5).start()
    >>> client = openai.OpenAI(base_url=server.base_url, api_key="test")
    >>> server.stats()["max_in_flight"]
    >>> server.stop()

    Also a context manager. ``port=0`` picks a free port; ``base_url`` has the real one.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 2.0,
        **options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.options = ServerOptions.build(**options)
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._state: ServerState | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def root_url(self) -> str:
        """``http://host:port`` (health and stats live here)."""
        if not self._started.is_set() or self._startup_error is not None:
            raise RuntimeError("the offline model server is not running")
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``, the ``base_url`` for an OpenAI client."""
        return f"{self.root_url}/v1"

    def start(self) -> Self:
        """Start listening; returns once the port is bound (raises if it cannot be)."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the offline model server was already started")
            self._thread = threading.Thread(
                target=self._thread_main, name=f"offline-model-server-{self.port}", daemon=True
            )
            self._thread.start()
        if not self._started.wait(self._startup_timeout):
            self.stop()
            raise TimeoutError("the offline model server did not start in time")
        if self._startup_error is not None:
            self._thread.join(self._startup_timeout)
            raise RuntimeError(
                f"the offline model server could not start on {self.host}:{self.port}: "
                f"{self._startup_error}"
            ) from self._startup_error
        return self

    def stop(self) -> None:
        """Stop the server and its thread; safe to call more than once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, event, thread = self._loop, self._stop_event, self._thread
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(event.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._shutdown_timeout + 5.0)

    def stats(self) -> dict[str, Any]:
        """The same figures as ``GET /stats``: in_flight, max_in_flight, requests, by_status…"""
        return self._call(lambda state: state.snapshot())

    def reset_stats(self) -> None:
        """Zero the counters (like ``POST /stats/reset``)."""
        self._call(lambda state: state.reset())

    def configure(self, **options: Any) -> None:
        """Replace the options (latency, fault rates, seed…) and restart the fault stream."""
        new_options = ServerOptions.build(**options)

        def apply(state: ServerState) -> None:
            state.configure(new_options)

        self._call(apply)
        self.options = new_options

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, function: Callable[[ServerState], Any]) -> Any:
        loop, state = self._loop, self._state
        if loop is None or state is None or self._stopped:
            raise RuntimeError("the offline model server is not running")

        async def call() -> Any:
            return function(state)

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=10)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                runner, bound = loop.run_until_complete(
                    start_runner(
                        self.host, self.port, self.options, shutdown_timeout=self._shutdown_timeout
                    )
                )
            except BaseException as error:  # noqa: BLE001 - handed to start() to re-raise
                self._startup_error = error
                self._started.set()
                return
            self.port = bound
            self._state = runner.app[STATE_KEY]
            self._stop_event = asyncio.Event()
            self._loop = loop
            self._started.set()
            if self._stopped:  # stop() raced with start-up
                self._stop_event.set()
            try:
                loop.run_until_complete(self._stop_event.wait())
            finally:
                loop.run_until_complete(runner.cleanup())
        finally:
            _cancel_remaining(loop)
            loop.close()


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def run_in_thread(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> tuple[str, Callable[[], None]]:
    """Start the server in a daemon thread; returns ``(base_url, stop)`` once it is listening.

    ``base_url`` ends in ``/v1`` (pass it to ``openai.OpenAI``); ``port=0`` picks a free port.
    ``options`` are :class:`ServerOptions` fields plus ``error_rate``. Use
    :class:`OfflineModelServer` directly for ``stats()`` and ``configure()``.
    """
    server = OfflineModelServer(host, port, **options).start()
    return server.base_url, server.stop


# --------------------------------------------------------------------------------------------
# Command line (shared by ``manage.py offline_model_server`` and ``python -m``)
# --------------------------------------------------------------------------------------------


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from error
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from error
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from error
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of the offline model server."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8765, help="port to listen on; 0 picks a free one (8765)"
    )
    parser.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, help="latency of every answer (0)"
    )
    parser.add_argument(
        "--error-rate",
        type=_rate,
        default=0.0,
        help="share of requests answered 429 or 500, split evenly (0)",
    )
    parser.add_argument("--rate-429", type=_rate, default=0.0, help="share answered 429 (0)")
    parser.add_argument("--rate-500", type=_rate, default=0.0, help="share answered 500 (0)")
    parser.add_argument(
        "--rate-slow", type=_rate, default=0.0, help="share answered after --slow-ms (0)"
    )
    parser.add_argument(
        "--rate-malformed",
        type=_rate,
        default=0.0,
        help="share answered 200 with a truncated, non-JSON body (0)",
    )
    parser.add_argument(
        "--slow-ms", type=_non_negative, default=30_000.0, help="delay of a slow answer (30000)"
    )
    parser.add_argument(
        "--retry-after",
        type=_non_negative,
        default=1.0,
        help="Retry-After header on 429, in seconds (1)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the fault stream and of hard graded items (0)"
    )
    parser.add_argument(
        "--grader-error-rate",
        type=_rate,
        default=grading.DEFAULT_GRADER_ERROR_RATE,
        help="share of graded items the grader stand-in tends to get wrong "
        f"({grading.DEFAULT_GRADER_ERROR_RATE:g})",
    )
    parser.add_argument(
        "--ignore-response-format",
        action="store_true",
        help="answer structured-output requests with the JSON inside plain words",
    )
    parser.add_argument(
        "--ignore-n", action="store_true", help="always answer one choice, whatever n asks"
    )


def options_from_arguments(arguments: Mapping[str, Any]) -> tuple[str, int, ServerOptions]:
    """``(host, port, options)`` from parsed arguments (an argparse namespace's ``vars``)."""
    options = ServerOptions.build(
        error_rate=arguments["error_rate"],
        latency_ms=arguments["latency_ms"],
        seed=arguments["seed"],
        rate_429=arguments["rate_429"],
        rate_500=arguments["rate_500"],
        rate_slow=arguments["rate_slow"],
        rate_malformed=arguments["rate_malformed"],
        slow_ms=arguments["slow_ms"],
        retry_after=arguments["retry_after"],
        grader_error_rate=arguments.get("grader_error_rate", grading.DEFAULT_GRADER_ERROR_RATE),
        ignore_response_format=bool(arguments.get("ignore_response_format", False)),
        ignore_n=bool(arguments.get("ignore_n", False)),
    )
    return str(arguments["host"]), int(arguments["port"]), options


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m offline_model``: the server without Django."""
    parser = argparse.ArgumentParser(
        prog="python -m offline_model",
        description="Offline OpenAI-compatible model server (an offline stand-in, not a model).",
    )
    add_arguments(parser)
    arguments = parser.parse_args(argv)
    try:
        host, port, options = options_from_arguments(vars(arguments))
    except ValueError as error:
        parser.error(str(error))
    run(host, port, options, announce=lambda line: print(line, flush=True))


__all__ = [
    "DEFAULT_MODEL",
    "MODEL_IDS",
    "STATE_KEY",
    "ChatRequest",
    "FaultInjector",
    "OfflineModelServer",
    "RequestError",
    "ServerOptions",
    "ServerState",
    "add_arguments",
    "build_completion",
    "create_app",
    "main",
    "options_from_arguments",
    "parse_chat_request",
    "run",
    "run_in_thread",
    "serve",
    "start_runner",
]
