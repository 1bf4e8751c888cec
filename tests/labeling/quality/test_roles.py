"""Who may use each quality page and API endpoint (every role, and anonymous)."""

from __future__ import annotations

import pytest
from django.test import Client

from .conftest import Builder

ROLES = ("alice", "rita", "victor", "anna", "nobody")


@pytest.fixture
def objects(build: Builder, personas):
    prompt = build.prompt()
    pair = build.pair(build.candidate(prompt), build.candidate(prompt))
    build.judge(pair, personas["anna"], preference=-2)
    build.judge(pair, personas["ben"], preference=2)
    return {"campaign": build.campaign, "pair": pair, "prompt": prompt}


def _pages(objects: dict) -> list[tuple[str, str, set[str]]]:
    slug, pair, prompt = objects["campaign"].slug, objects["pair"].pk, objects["prompt"].pk
    quality = {"alice", "rita", "victor"}
    review = {"alice", "victor"}
    gold = {"alice", "rita"}
    return [
        ("get", f"/review/?campaign={slug}", review),
        ("get", f"/review/pairs/{pair}/", quality),
        ("get", f"/review/resolved/?campaign={slug}", quality),
        ("get", f"/dashboards/?campaign={slug}", quality),
        ("get", f"/dashboards/?campaign={slug}&view=modes", quality),
        ("get", f"/dashboards/?campaign={slug}&view=annotators", quality),
        ("get", f"/dashboards/annotators.csv?campaign={slug}", quality),
        ("get", f"/dashboards/safety_by_intent.csv?campaign={slug}", quality),
        ("get", f"/quality/campaigns/{slug}/", quality),
        ("get", f"/quality/pairs/{pair}/gold/", gold),
        ("post", f"/review/prompts/{prompt}/correct/", review),
    ]


def _api(objects: dict) -> list[tuple[str, str, set[str]]]:
    slug, pair, prompt = objects["campaign"].slug, objects["pair"].pk, objects["prompt"].pk
    quality = {"alice", "rita", "victor"}
    review = {"alice", "victor"}
    gold = {"alice", "rita"}
    return [
        ("get", f"/api/v1/quality/campaigns/{slug}/agreement/?reps=5", quality),
        ("get", f"/api/v1/quality/campaigns/{slug}/gold/", quality),
        ("get", f"/api/v1/quality/campaigns/{slug}/bias/", quality),
        ("get", f"/api/v1/quality/campaigns/{slug}/dashboards/safety_by_intent/", quality),
        ("get", f"/api/v1/quality/review-queue/?campaign={slug}", review),
        ("get", f"/api/v1/quality/pairs/{pair}/gold/", gold),
        ("post", f"/api/v1/quality/prompts/{prompt}/correction/", review),
    ]


def test_pages_by_role(client_for, objects) -> None:
    for method, url, allowed in _pages(objects):
        for name in ROLES:
            response = getattr(client_for(name), method)(url)
            if name in allowed:
                # a POST without a body is refused as a bad form, never a server error
                assert response.status_code in (200, 302), (name, url, response.status_code)
            else:
                assert response.status_code == 403, (name, url, response.status_code)
        anonymous = getattr(Client(), method)(url)
        assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_api_by_role(client_for, objects) -> None:
    for method, url, allowed in _api(objects):
        for name in ROLES:
            response = getattr(client_for(name), method)(url, content_type="application/json")
            if name in allowed:
                assert response.status_code == 200, (name, url, response.status_code)
            else:
                assert response.status_code == 403, (name, url, response.status_code)
        assert getattr(Client(), method)(url).status_code in (401, 403)


def test_unknown_ids_are_404(client_for, objects) -> None:
    victor = client_for("victor")
    assert victor.get("/review/pairs/999999/").status_code == 404
    assert victor.get("/dashboards/?campaign=nope").status_code == 404
    assert victor.get("/dashboards/?view=nope").status_code == 404
    assert victor.get("/quality/campaigns/nope/").status_code == 404
    assert victor.get("/api/v1/quality/campaigns/nope/agreement/").status_code == 404
    assert (
        victor.put(
            "/api/v1/quality/pairs/999999/review/", {}, content_type="application/json"
        ).status_code
        == 404
    )


def test_agreement_api_validates_its_parameters(client_for, objects) -> None:
    rita = client_for("rita")
    slug = objects["campaign"].slug
    assert rita.get(f"/api/v1/quality/campaigns/{slug}/agreement/?reps=-1").status_code == 400
    assert rita.get(f"/api/v1/quality/campaigns/{slug}/agreement/?reps=99999").status_code == 400
    assert rita.get(f"/api/v1/quality/campaigns/{slug}/agreement/?intent=evil").status_code == 400
    body = rita.get(f"/api/v1/quality/campaigns/{slug}/agreement/?reps=5").json()
    assert set(body) == {"response_mode", "severity", "helpfulness", "preference", "kappa"}


def test_review_page_renders_untrusted_text_inert(client_for, objects) -> None:
    pair = objects["pair"]
    pair.candidate_a.text = '<script>alert(1)</script><img src=x onerror="alert(2)"> **bold**'
    pair.candidate_a.save(update_fields=["text"])
    html = client_for("victor").get(f"/review/pairs/{pair.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<img" not in html  # raw HTML is shown as text, never as markup
    assert "<strong>bold</strong>" in html
    assert "hx-disable" in html
