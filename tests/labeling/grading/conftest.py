"""Fixtures of the grader tests: an endpoint on the offline model server and a grader on it.

- ``grading_endpoint``: a model endpoint named ``offline`` on the ``offline_server`` fixture.
- ``grader_version``: grader ``safety-judge`` version 1 on that endpoint, pinned to
  ``policy_version``, default templates, 3 samples.
- ``endpoint_server``: an OpenAI-compatible HTTP server built from the offline server's own
  request parsing and answers, but behaving like endpoints that differ from it (ignoring
  ``n``, refusing ``response_format``), for the call paths those endpoints take.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from labeling.generation.endpoints import endpoint_create
from labeling.grading.services import grader_create
from labeling.models import Grade, GraderVersion, ModelEndpoint
from offline_model.server import RequestError, build_completion, error_body, parse_chat_request
from policy.models import PolicyVersion


@pytest.fixture
def grading_endpoint(db: None, offline_server: Any) -> ModelEndpoint:
    return endpoint_create(
        name="offline",
        base_url=offline_server.base_url,
        model="graylab-offline",
        timeout_seconds=10.0,
        concurrency_limit=4,
    )


@pytest.fixture
def grader_version(grading_endpoint: ModelEndpoint, policy_version: PolicyVersion) -> GraderVersion:
    return grader_create(
        name="safety-judge",
        description="Applies the published policy.",
        endpoint=grading_endpoint,
        policy_version=policy_version,
        samples=3,
        temperature=0.7,
        seed=5,
    )


def add_grade(version: GraderVersion, candidate: Any) -> Grade:
    """A stored grade of ``candidate`` by ``version`` (what a grading run will write)."""
    return Grade.objects.create(
        grader_version=version,
        kind=Grade.Kind.CANDIDATE,
        candidate=candidate,
        response_mode="hard_refusal",
        severity="none",
        helpfulness=1,
        confidence=1.0,
        field_confidence={"response_mode": 1.0, "severity": 1.0, "helpfulness": 1.0},
        samples=1,
        rationale="Declines.",
        raw_answers=['{"response_mode": "hard_refusal"}'],
    )


class EndpointServer:
    """An HTTP endpoint answering with the offline server's completions, with a twist:
    ``ignore_choices`` answers one choice whatever ``n`` asked; ``refuse_response_format``
    answers 400 naming ``response_format`` whenever a request carries it. ``requests`` keeps
    every request body received."""

    def __init__(self, *, ignore_choices: bool = False, refuse_response_format: bool = False):
        self.ignore_choices = ignore_choices
        self.refuse_response_format = refuse_response_format
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if server.refuse_response_format and "response_format" in body:
                    self._answer(
                        400,
                        error_body(
                            "Invalid parameter: 'response_format' is not supported with this "
                            "model.",
                            "invalid_request_error",
                            "response_format",
                        ),
                    )
                    return
                if server.ignore_choices:
                    body = {**body, "n": 1}
                try:
                    answer = build_completion(parse_chat_request(body))
                except RequestError as error:
                    self._answer(400, error_body(str(error), "invalid_request_error"))
                    return
                self._answer(200, answer)

            def _answer(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def endpoint_server() -> Iterator[Callable[..., EndpointServer]]:
    started: list[EndpointServer] = []

    def start(**behaviour: bool) -> EndpointServer:
        server = EndpointServer(**behaviour)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
