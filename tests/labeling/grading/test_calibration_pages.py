"""The calibration page and API: who may read them, what they show, bad parameters."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.quality.agreement import FIELDS

from .test_calibration import _planted

pytestmark = pytest.mark.django_db


@pytest.fixture
def calibrated(campaign_with_pairs, personas, grader_version):
    _planted(campaign_with_pairs, personas, grader_version)
    return campaign_with_pairs


def test_page_shows_versions_side_by_side_with_the_ceiling_and_disagreements(
    calibrated, grader_version, client_for
) -> None:
    url = reverse("labeling:campaign_calibration", args=[calibrated.slug])
    for name in ("rita", "victor", "alice"):
        assert client_for(name).get(url).status_code == 200, name
    assert client_for("anna").get(url).status_code == 403
    page = client_for("victor").get(url).content.decode()
    assert f"{grader_version.grader.name} v{grader_version.number}" in page
    assert 'id="calibration-ceiling"' in page
    assert page.count('class="calibration-confusion"') == len(FIELDS)
    # Values by the rubric's labels, not their codes.
    confusion = page[page.index('class="calibration-confusion"') :]
    assert "<th>Hard refusal</th>" in confusion and "hard_refusal" not in confusion
    # A reviewer follows a disagreeing item to its pair's review page.
    assert "/review/pairs/" in page
    researcher_page = client_for("rita").get(url).content.decode()
    assert "/review/pairs/" not in researcher_page and "(pair " in researcher_page


def test_page_of_a_campaign_nobody_graded_says_so(campaign_with_pairs, client_for) -> None:
    url = reverse("labeling:campaign_calibration", args=[campaign_with_pairs.slug])
    assert 'id="calibration-empty"' in client_for("rita").get(url).content.decode()


def test_api_answers_every_field_and_refuses_bad_parameters(
    calibrated, grader_version, client_for
) -> None:
    url = f"/api/v1/campaigns/{calibrated.slug}/calibration/"
    rita = client_for("rita")
    body = rita.get(url, {"grader": grader_version.grader.name}).json()
    assert body["grader"] == grader_version.grader.name and body["version"] == 1
    assert set(body["fields"]) == {spec.name for spec in FIELDS}
    for row in body["fields"].values():
        assert {"alpha", "kappa", "ci95", "items", "human_alpha", "confusion"} <= set(row)
    assert rita.get(url, {"grader": "nobody"}).status_code == 404
    bad = rita.get(url, {"grader": grader_version.grader.name, "version": "x"})
    assert bad.status_code == 400 and "version" in bad.json()
    bad = rita.get(url, {"grader": grader_version.grader.name, "intent": "curious"})
    assert bad.status_code == 400 and "intent" in bad.json()
    assert client_for("anna").get(url, {"grader": grader_version.grader.name}).status_code == 403
