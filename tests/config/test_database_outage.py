"""A real database outage: stop PostgreSQL under a running app, then start it again.

The test starts its own PostgreSQL server on a spare port (the shared one is never touched),
migrates it, runs the app in gunicorn against it with production settings (DEBUG off), and
checks that while the server is down the API answers 503 JSON ``{"detail": …}`` with
Retry-After, pages answer a plain 503 page, ``/healthz`` answers 503 naming the database, and
that the same app process answers 200 again once PostgreSQL is back.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from tests.own_services import (
    CAN_RUN_POSTGRES,
    NO_POSTGRES_REASON,
    PASSWORD_ENV,
    AppServer,
    PrivatePostgres,
    app_environment,
    manage,
    poll,
)

pytestmark = pytest.mark.skipif(not CAN_RUN_POSTGRES, reason=NO_POSTGRES_REASON)


@pytest.mark.timeout(420)
def test_api_answers_503_during_a_database_outage_and_recovers(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = app_environment(private_postgres.url, tmp_path / "data")
    password = "outage-" + secrets.token_urlsafe(16)
    env[PASSWORD_ENV] = password
    manage(env, "migrate", "--noinput")
    manage(env, "create_user", "outage-anna", "--role", "annotator", "--password-env", PASSWORD_ENV)

    log_path = tmp_path / "gunicorn.log"
    with AppServer(env, log_path, "--workers", "1") as app:
        app.wait_until_healthy()
        with httpx.Client(base_url=app.url, timeout=15) as http:
            signed_in = http.post(
                "/api/v1/auth/token/", json={"username": "outage-anna", "password": password}
            )
            assert signed_in.status_code == 200, signed_in.text
            auth = {"Authorization": f"Token {signed_in.json()['token']}"}
            api = "/api/v1/policy/versions/"
            assert http.get(api, headers=auth).status_code == 200

            private_postgres.stop()

            down = http.get(api, headers=auth)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/json"
            assert down.json()["detail"]
            assert int(down.headers["retry-after"]) > 0

            sign_in = http.post(
                "/api/v1/auth/token/", json={"username": "outage-anna", "password": password}
            )
            assert sign_in.status_code == 503, sign_in.text
            assert set(sign_in.json()) == {"detail"}

            # A session cookie makes the middleware look the session up before any view runs.
            page = http.get("/", headers={"Cookie": "sessionid=" + "x" * 32})
            assert page.status_code == 503, page.text
            assert page.headers["content-type"].startswith("text/html")
            assert "Service unavailable" in page.text and "Traceback" not in page.text
            assert "retry-after" in page.headers

            health = http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["status"] == "unavailable"
            assert health.json()["database"] != "ok"
            assert health.json()["broker"] == "ok"

            private_postgres.start()

            recovered = lambda: http.get(api, headers=auth).status_code == 200  # noqa: E731
            poll(recovered, 30, "the API did not recover", log_path)
            assert http.get("/healthz").status_code == 200
            assert app.alive(), "the app restarted or died"
