"""The API docs page in a real browser: Swagger UI starts under the strict
Content-Security-Policy (no inline script or style) and lists the API's operations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_dark_mode import contrast, luminance, rgb

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


def _colours(page: Any, selector: str) -> tuple[str, str]:
    background, colour = page.locator(selector).first.evaluate(
        "node => { const s = getComputedStyle(node); return [s.backgroundColor, s.color]; }"
    )
    return background, colour


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_api_docs_follow_the_colour_scheme(browser: Any, live_server: Any, scheme: str) -> None:
    context = browser.new_context(base_url=live_server.url, color_scheme=scheme)
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    body = rgb(_colours(page, "body")[0])
    swagger_background, swagger_text = _colours(page, ".swagger-ui")
    path_text = rgb(
        page.locator(".opblock-summary-path").first.evaluate("n => getComputedStyle(n).color")
    )
    if scheme == "dark":
        assert luminance(body) < 0.05, body
        # Swagger UI's own dark theme draws its content on a dark surface of its own.
        assert swagger_background != "rgba(0, 0, 0, 0)"
        assert luminance(rgb(swagger_background)) < 0.05, swagger_background
        assert contrast(rgb(swagger_text), body) >= 7, (swagger_text, body)
    else:
        assert luminance(body) > 0.9, body
    assert contrast(path_text, body) >= 4.5, (path_text, body)
    assert violations == []
