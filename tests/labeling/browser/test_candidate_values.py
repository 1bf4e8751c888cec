"""The browser's source, model and style filters offer the campaign's own values (kept by a
PostgreSQL trigger, read from the candidates on the portable path) and refuse any other."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from labeling.browser import candidate_values
from labeling.browser.candidate_values import campaign_candidate_values
from labeling.models import Campaign, Candidate, CandidateValue, ExportExclusion
from tests.labeling.quality.conftest import make_campaign

from .conftest import Builder

PLANTED = {
    "source": ["model-x", "model-y", "model-z"],
    "model": ["model-x", "model-y", "model-z"],
    "style": ["plain", "refusal"],
}


@pytest.fixture(params=["postgresql", "portable"])
def values_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "portable":
        monkeypatch.setattr(candidate_values, "is_postgresql", lambda: False)
    return str(request.param)


@pytest.fixture
def other_campaign(quality_campaign: Campaign, policy_version: Any) -> Campaign:
    """Another campaign whose candidates' values must not show in the first one."""
    other = make_campaign(policy_version, slug="other")
    build = Builder(other)
    build.candidate(build.prompt(), model="elsewhere", style="other-style")
    return other


def test_each_campaign_offers_its_own_values(
    quality_campaign, planted, other_campaign, values_path
) -> None:
    assert campaign_candidate_values(quality_campaign) == PLANTED
    assert campaign_candidate_values(other_campaign) == {
        "source": ["elsewhere"],
        "model": ["elsewhere"],
        "style": ["other-style"],
    }


def test_the_trigger_keeps_the_values_of_every_insert(quality_campaign, build: Builder) -> None:
    """Inserts one by one and in bulk (as imports write) add their values once each; the
    listing then reads the kept values, not the candidates."""
    prompt = build.prompt()
    build.candidate(prompt, model="solo", style="")
    Candidate.objects.bulk_create(
        Candidate(
            prompt=prompt,
            text=f"bulk {index}",
            source="imported",
            model="bulk-model" if index % 2 else "",
            style="terse",
            idempotency_key=f"bulk-{index}",
        )
        for index in range(50)
    )
    kept = set(
        CandidateValue.objects.filter(campaign=quality_campaign).values_list("field", "value")
    )
    assert kept == {
        ("source", "solo"),
        ("model", "solo"),
        ("source", "imported"),
        ("model", "bulk-model"),
        ("style", "terse"),
    }
    assert '"labeling_candidate"' not in str(
        candidate_values._values(quality_campaign, "model").query
    )


def test_page_offers_selects_that_keep_the_url_state(client_for, quality_campaign, planted) -> None:
    url = reverse("labeling:browser", args=[quality_campaign.slug])
    html = client_for("rita").get(url, {"model": "model-y", "style": "refusal"}).content.decode()
    for field, values in PLANTED.items():
        select = re.search(rf'<select id="f-{field}" name="{field}">(.*?)</select>', html, re.S)
        assert select, field
        assert re.findall(r'<option value="([^"]*)"', select.group(1)) == ["", *values]
    assert re.search(r'<option value="model-y"\s+selected>', html)
    assert re.search(r'<option value="refusal"\s+selected>', html)
    assert "1 pair matches<" in html
    # Intents by their label, as everywhere.
    assert '<div class="muted">Benign</div>' in html and ">benign<" not in html


def test_more_values_than_a_list_holds_become_suggestions(
    client_for, quality_campaign, planted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(candidate_values, "LISTED_AT_MOST", 2)
    url = reverse("labeling:browser", args=[quality_campaign.slug])
    html = client_for("rita").get(url, {"model": "model-z"}).content.decode()
    assert re.search(
        r'<input id="f-model" name="model" value="model-z" list="f-model-values"', html
    )
    datalist = re.search(r'<datalist id="f-model-values">(.*?)</datalist>', html, re.S)
    assert datalist and re.findall(r'value="([^"]*)"', datalist.group(1)) == PLANTED["model"][:2]
    assert '<select id="f-style" name="style">' in html


def test_an_unknown_value_is_refused_naming_the_field(
    client_for, quality_campaign, planted, other_campaign, values_path
) -> None:
    rita = client_for("rita")
    api = reverse("browser-list", args=[quality_campaign.slug, "pairs"])
    assert rita.get(api, {"model": "model-z"}).json()["count"] == 1
    refused = rita.get(api, {"model": "elsewhere", "style": "plain"})
    assert refused.status_code == 400
    assert refused.json() == {
        "model": [f"no candidate of campaign {quality_campaign.slug} has model “elsewhere”"]
    }
    page = rita.get(reverse("labeling:browser", args=[quality_campaign.slug]), {"source": "nobody"})
    assert page.status_code == 400 and "source: no candidate of campaign" in page.content.decode()
    # A bulk action on every pair matching an unknown value changes nothing.
    bulk = rita.post(
        reverse("browser-pairs-bulk", args=[quality_campaign.slug]),
        {"action": "exclude", "all_matching": True, "filters": {"style": "nonexistent"}},
        content_type="application/json",
    )
    assert bulk.status_code == 400 and list(bulk.json()) == ["style"]
    assert not ExportExclusion.objects.exists()
