"""The API docs page in a real browser: Swagger UI starts under the strict
Content-Security-Policy (no inline script or style) and lists the API's operations."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_api_docs_list_the_operations_with_no_policy_violation(
    browser: Any, live_server: Any
) -> None:
    page = browser.new_page(base_url=live_server.url)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/campaigns/" in path for path in paths), paths[:10]
    assert any("/api/v1/graders/" in path for path in paths), paths[:10]
    assert violations == []
