"""Eight API annotators through a database restart and a broker restart.

The test runs the app in gunicorn (production settings) on a PostgreSQL server and a Redis of
its own, signs eight annotators in through the API and lets them claim and judge as fast as
they can, each retrying a step that answered 503 or lost its connection. Mid-way it stops
PostgreSQL for a few seconds, then kills Redis and starts it again. At the end: every judgment
the API acknowledged exists exactly once, no pair has more than ``k`` judgments, every pair has
its ``k``, nothing answered 500, and the same app processes served it all (no restart).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from tests.own_services import (
    CAN_RUN_POSTGRES,
    HAVE_REDIS_SERVER,
    NO_POSTGRES_REASON,
    PASSWORD_ENV,
    AppServer,
    OwnRedis,
    PrivatePostgres,
    app_environment,
    manage,
    poll,
)

from .factories import payload

pytestmark = [
    pytest.mark.skipif(not CAN_RUN_POSTGRES, reason=NO_POSTGRES_REASON),
    pytest.mark.skipif(not HAVE_REDIS_SERVER, reason="needs redis-server"),
]

ANNOTATORS = 8
PROMPTS = 120
SOURCES = ("model-a", "model-b", "model-c")  # three candidates: three pairs per prompt
K = 2
RETRYABLE = {502, 503, 504}


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def _seed(env: dict[str, str], folder: Path, password: str) -> None:
    manage(env, "migrate", "--noinput")
    for index in range(ANNOTATORS):
        manage(
            env,
            "create_user",
            f"anno{index}",
            "--role",
            "annotator",
            "--password-env",
            PASSWORD_ENV,
        )
    manage(
        env,
        "campaign_create",
        "outage",
        "--name",
        "Outage",
        "--judgments-per-pair",
        str(K),
        "--open",
    )
    prompts = [
        {
            "external_id": f"p{i}",
            "prompt": f"Question {i}: how do household locks work?",
            "category": "benign/general",
            "intent": "benign",
        }
        for i in range(PROMPTS)
    ]
    candidates = [
        {"external_id": f"p{i}", "source": source, "completion": f"{source} answers question {i}."}
        for i in range(PROMPTS)
        for source in SOURCES
    ]
    manage(
        env,
        "import_prompts",
        str(_write_jsonl(folder / "p.jsonl", prompts)),
        "--campaign",
        "outage",
    )
    manage(
        env,
        "import_candidates",
        str(_write_jsonl(folder / "c.jsonl", candidates)),
        *("--campaign", "outage", "--format", "jsonl"),
    )


class Annotator(threading.Thread):
    """Claims and judges until no work is left; a step that fails for the outage is retried."""

    def __init__(self, base_url: str, name: str, password: str, deadline: float) -> None:
        super().__init__(name=name, daemon=True)
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.username, self.password, self.deadline = name, password, deadline
        self.acknowledged: list[int] = []
        self.statuses: Counter[int] = Counter()
        self.error: BaseException | None = None

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        while time.monotonic() < self.deadline:
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError:
                self.statuses[0] += 1
                time.sleep(0.2)
                continue
            self.statuses[response.status_code] += 1
            if response.status_code not in RETRYABLE:
                return response
            time.sleep(0.2)
        raise TimeoutError(f"{self.username}: {method} {url} kept failing")

    def run(self) -> None:
        try:
            token = self._send(
                "POST",
                "/api/v1/auth/token/",
                json={"username": self.username, "password": self.password},
            )
            assert token.status_code == 200, token.text
            self.http.headers["Authorization"] = f"Token {token.json()['token']}"
            while True:
                claim = self._send("POST", "/api/v1/campaigns/outage/claim/")
                if claim.status_code == 204:
                    return
                assert claim.status_code == 200, claim.text
                url = f"/api/v1/assignments/{claim.json()['assignment']}/judgment/"
                judged = self._send("POST", url, json=payload())
                assert judged.status_code in (200, 201), judged.text
                self.acknowledged.append(judged.json()["id"])
        except BaseException as error:  # noqa: BLE001 - reported by the test, not lost here
            self.error = error


def _judgments(database_url: str) -> list[tuple[int, int, int]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT j.id, a.pair_id, a.id FROM labeling_judgment j "
            "JOIN labeling_assignment a ON a.id = j.assignment_id"
        ).fetchall()


def _pair_count(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("SELECT count(*) FROM labeling_pair").fetchone()
        assert row is not None
        return int(row[0])


@pytest.mark.timeout(600)
def test_eight_api_annotators_through_database_and_broker_restarts(
    private_postgres: PrivatePostgres, own_redis: OwnRedis, tmp_path: Path
) -> None:
    env = app_environment(private_postgres.url, tmp_path / "data")
    env["CELERY_BROKER_URL"] = own_redis.url
    password = "outage-" + secrets.token_urlsafe(16)
    env[PASSWORD_ENV] = password
    env["SIGN_IN_ATTEMPTS_PER_WINDOW"] = "1000"
    _seed(env, tmp_path, password)
    pairs = _pair_count(private_postgres.url)
    assert pairs == PROMPTS * len(SOURCES)

    log_path = tmp_path / "gunicorn.log"
    with AppServer(env, log_path, "--workers", "2", "--threads", "4") as app:
        app.wait_until_healthy()
        base_url = app.url
        deadline = time.monotonic() + 400
        annotators = [
            Annotator(base_url, f"anno{index}", password, deadline) for index in range(ANNOTATORS)
        ]
        for annotator in annotators:
            annotator.start()

        def acknowledged() -> int:
            return sum(len(annotator.acknowledged) for annotator in annotators)

        poll(lambda: acknowledged() >= 60, 120, "the annotators made no progress", log_path)
        private_postgres.stop()
        time.sleep(3)
        private_postgres.start()
        before = acknowledged()
        poll(lambda: acknowledged() >= before + 60, 120, "no progress after the restart", log_path)
        own_redis.stop()
        time.sleep(2)
        own_redis.start()

        for annotator in annotators:
            annotator.join(timeout=max(1.0, deadline - time.monotonic()))
        for annotator in annotators:
            assert not annotator.is_alive(), f"{annotator.name} did not finish"
            assert annotator.error is None, f"{annotator.name}: {annotator.error!r}"
        assert app.alive(), "the app died"

        statuses = sum((annotator.statuses for annotator in annotators), Counter())
        assert statuses[500] == 0, statuses
        assert statuses[503] + statuses[0] > 0, f"the outage was never seen: {statuses}"

        rows = _judgments(private_postgres.url)
        ids = [judgment_id for judgment_id, _, _ in rows]
        acknowledged_ids = [i for annotator in annotators for i in annotator.acknowledged]
        assert len(set(acknowledged_ids)) == len(acknowledged_ids)
        assert set(acknowledged_ids) <= set(ids), "an acknowledged judgment is missing"
        per_assignment = Counter(assignment for _, _, assignment in rows)
        assert max(per_assignment.values()) == 1
        per_pair = Counter(pair for _, pair, _ in rows)
        assert max(per_pair.values()) <= K
        assert len(per_pair) == pairs and min(per_pair.values()) == K
        assert len(rows) == pairs * K == len(acknowledged_ids)
