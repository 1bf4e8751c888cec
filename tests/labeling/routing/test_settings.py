"""The routing settings through the campaign form and the API: saved, shown, and refused field
by field (nothing changed) when wrong; only researchers and admins may change them."""

from __future__ import annotations

import pytest

from labeling.models import Campaign

ROUTING_FIELDS = (
    "routing", "routing_grader", "human_budget", "accept_confidence", "accept_consistency",
    "spot_check_share",
)  # fmt: skip


def _form(campaign, **changes):
    data = {
        "name": campaign.name,
        "slug": campaign.slug,
        "policy_version": campaign.policy_version_id,
        "instructions": campaign.instructions,
        "judgments_per_pair": campaign.judgments_per_pair,
        "pair_strategy": campaign.pair_strategy,
        "max_pairs_per_prompt": campaign.max_pairs_per_prompt,
        "open_to_all_annotators": "on",
        "routing": campaign.routing,
        "routing_grader": "",
        "human_budget": "",
        "accept_confidence": "",
        "accept_consistency": campaign.accept_consistency,
        "spot_check_share": campaign.spot_check_share,
    }
    data.update(changes)
    return data


def _settings(campaign):
    campaign.refresh_from_db()
    return tuple(getattr(campaign, name) for name in ROUTING_FIELDS)


def test_form_saves_grader_first_and_the_page_shows_it(campaign, client_for, grader_version):
    client = client_for("rita")
    url = f"/campaigns/{campaign.slug}/edit/"
    answer = client.post(
        url,
        _form(
            campaign,
            routing="grader-first",
            routing_grader=grader_version.grader.pk,
            human_budget="50",
            accept_confidence="0.9",
            spot_check_share="0.2",
        ),
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    campaign.refresh_from_db()
    assert (campaign.routing, campaign.routing_grader, campaign.human_budget) == (
        "grader-first", grader_version.grader, 50,
    )  # fmt: skip
    assert (campaign.accept_confidence, campaign.spot_check_share) == (0.9, 0.2)
    page = client.get(f"/campaigns/{campaign.slug}/").content.decode()
    assert "by grader" in page and "safety-judge" in page
    assert "0 of 50 used" in page and "0 pairs accepted" in page


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"routing": "grader-first"}, "routing_grader"),
        ({"accept_confidence": "1.5"}, "accept_confidence"),
        ({"accept_consistency": "-0.1"}, "accept_consistency"),
        ({"spot_check_share": "2"}, "spot_check_share"),
        ({"human_budget": "-1"}, "human_budget"),
    ],
)
def test_form_refuses_bad_settings_naming_the_field(campaign, client_for, changes, field):
    before = _settings(campaign)
    answer = client_for("rita").post(
        f"/campaigns/{campaign.slug}/edit/", _form(campaign, **changes)
    )
    assert answer.status_code == 200
    assert field in answer.context["form"].errors, answer.context["form"].errors
    assert _settings(campaign) == before


def test_api_changes_and_reports_routing(campaign, client_for, grader_version):
    client = client_for("rita")
    url = f"/api/v1/campaigns/{campaign.slug}/"
    answer = client.patch(
        url,
        {"routing": "grader-first", "routing_grader": "safety-judge", "human_budget": 10,
         "accept_confidence": 0.8},
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["routing"], body["routing_grader"], body["human_budget"]) == (
        "grader-first", "safety-judge", 10,
    )  # fmt: skip
    report = client.get(f"{url}routing/").json()
    assert report["human_budget"] == 10 and report["budget_left"] == 10
    assert report["accepted"] == 0 and report["spot_check_agreement"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"routing": "grader-first"}, "routing_grader"),
        ({"routing": "grader-first", "routing_grader": "no-such-grader"}, "routing_grader"),
        ({"accept_confidence": 1.5}, "accept_confidence"),
        ({"spot_check_share": -0.5}, "spot_check_share"),
        ({"routing": "random"}, "routing"),
    ],
)
def test_api_refuses_bad_settings_naming_the_field(campaign, client_for, changes, field):
    before = _settings(campaign)
    answer = client_for("rita").patch(
        f"/api/v1/campaigns/{campaign.slug}/", changes, content_type="application/json"
    )
    assert answer.status_code == 400
    assert field in answer.json(), answer.json()
    assert _settings(campaign) == before


@pytest.mark.parametrize("who", ["anna", "victor"])
def test_only_researchers_and_admins_change_routing(campaign, client_for, who):
    client = client_for(who)
    answer = client.patch(
        f"/api/v1/campaigns/{campaign.slug}/", {"human_budget": 1}, content_type="application/json"
    )
    assert answer.status_code == 403
    assert client.get(f"/api/v1/campaigns/{campaign.slug}/routing/").status_code == 403
    assert client.get(f"/campaigns/{campaign.slug}/edit/").status_code in (302, 403)
    assert Campaign.objects.get(pk=campaign.pk).human_budget is None


def test_a_used_up_budget_is_explained_on_the_page_and_in_the_api(campaign, client_for):
    from tests.labeling.annotation.factories import build_pairs

    build_pairs(campaign, 2)
    campaign.human_budget = 0
    campaign.save()
    client = client_for("anna")
    page = client.post(f"/campaigns/{campaign.slug}/annotate/").content.decode()
    assert "human budget is used up" in page
    answer = client.post(f"/api/v1/campaigns/{campaign.slug}/claim/")
    assert answer.status_code == 204 and answer["Graylab-Claim-Reason"] == "budget"
