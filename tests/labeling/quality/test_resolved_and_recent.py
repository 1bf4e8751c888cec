"""The resolved-review list, the campaign with the most recent activity first, readable
values on the review pages, researchers reading a pair, and the demo's work for reviewers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from labeling.annotation.demo import seed_demo_judgments
from labeling.campaigns.services import campaign_create
from labeling.demo_review import CONTRARY_ANNOTATOR, seed_demo_review_work
from labeling.models import Campaign, Review
from labeling.quality.review import review_queue, review_record
from tests.labeling.annotation.factories import build_pairs, ensure_roles

from .conftest import Builder

LABELS = {
    "a": {"response_mode": "safe_completion", "severity": "none", "helpfulness": 3},
    "b": {"response_mode": "hard_refusal", "severity": "none", "helpfulness": 1},
    "preference": -1,
}


def _listed(client: Client, **params: str) -> list[int]:
    html = client.get("/review/resolved/", params).content.decode()
    table = html.split('id="resolved-reviews"', 1)[1]
    return [int(pk) for pk in re.findall(r'/review/pairs/(\d+)/">#', table)]


@pytest.fixture
def two_campaigns(policy_version, personas):
    first = Builder(
        Campaign.objects.create(name="First", slug="first", policy_version=policy_version)
    )
    second = Builder(
        Campaign.objects.create(name="Second", slug="second", policy_version=policy_version)
    )
    return first, second


def _pair(build: Builder):
    prompt = build.prompt(intent="dual_use")
    return build.pair(build.candidate(prompt), build.candidate(prompt))


def test_resolved_reviews_filter_and_link_to_their_pair(
    two_campaigns, personas, client_for
) -> None:
    first, second = two_campaigns
    p1, p2, p3 = _pair(first), _pair(first), _pair(second)
    review_record(
        pair=p1,
        reviewer=personas["victor"],
        resolution="labels",
        final_labels=LABELS,
        notes="clear",
    )
    review_record(
        pair=p2, reviewer=personas["alice"], resolution="discard", final_labels=None, notes=""
    )
    review_record(
        pair=p3, reviewer=personas["victor"], resolution="labels", final_labels=LABELS, notes=""
    )
    old = timezone.now() - timedelta(days=10)
    Review.objects.filter(pair=p3).update(updated_at=old)
    client = client_for("rita")  # researchers read the list too
    assert _listed(client) == [p2.pk, p1.pk, p3.pk]
    assert _listed(client, campaign="first") == [p2.pk, p1.pk]
    assert _listed(client, reviewer=str(personas["victor"].pk)) == [p1.pk, p3.pk]
    assert _listed(client, resolution="discard") == [p2.pk]
    assert _listed(client, until=(old + timedelta(days=1)).date().isoformat()) == [p3.pk]
    assert _listed(client, since=(timezone.now() - timedelta(days=1)).date().isoformat()) == [
        p2.pk,
        p1.pk,
    ]
    html = client.get("/review/resolved/", {"campaign": "first"}).content.decode()
    assert "Safe-completion" in html and "Hard refusal" in html and "Dual-use" in html
    assert "\N{MINUS SIGN}1 · A slightly better" in html
    assert "safe_completion" not in html and "dual_use" not in html
    bad = client.get("/review/resolved/", {"since": "2026-05-02", "until": "2026-05-01"})
    assert bad.status_code == 400 and "must not be before" in bad.content.decode()


def test_researcher_reads_a_pair_but_cannot_resolve_it(two_campaigns, personas, client_for) -> None:
    first, _ = two_campaigns
    pair = _pair(first)
    first.judge(pair, personas["anna"], a=("safe_completion", "low", 2), preference=-2)
    review_record(
        pair=pair, reviewer=personas["victor"], resolution="labels", final_labels=LABELS, notes=""
    )
    rita = client_for("rita")
    page = rita.get(f"/review/pairs/{pair.pk}/").content.decode()
    assert 'id="review-form"' not in page and 'id="review-outcome"' in page
    assert "Final labels" in page and "by victor" in page
    assert "Safe-completion" in page and "\N{MINUS SIGN}2 · A much better" in page
    assert rita.post(f"/review/pairs/{pair.pk}/", {"resolution": "discard"}).status_code == 403
    assert Review.objects.get(pair=pair).resolution == "labels"
    assert (
        'id="review-form"' in client_for("victor").get(f"/review/pairs/{pair.pk}/").content.decode()
    )


def test_queue_and_dashboards_open_on_the_campaign_with_the_latest_activity(
    two_campaigns, personas, client_for
) -> None:
    first, second = two_campaigns
    # "second" is newer, but "first" was judged since: the pages open on "first".
    Campaign.objects.filter(pk=first.campaign.pk).update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    Campaign.objects.filter(pk=second.campaign.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    client = client_for("victor")
    picked = re.compile(r'<option value="([\w-]+)" selected>')
    assert picked.search(client.get("/review/").content.decode()).group(1) == "second"
    first.judge(_pair(first), personas["anna"])
    for url in ("/review/", "/dashboards/"):
        html = client.get(url).content.decode()
        assert picked.search(html).group(1) == "first", url
        options = re.findall(r'<option value="([\w-]+)"', html.split('id="campaign-picker"', 1)[1])
        assert options[:2] == ["first", "second"]
    # A review is activity too (judgments count to the hour on PostgreSQL: the review is later).
    review_record(
        pair=_pair(second),
        reviewer=personas["victor"],
        resolution="discard",
        final_labels=None,
        notes="",
    )
    assert picked.search(client.get("/review/").content.decode()).group(1) == "second"
    # Naming a campaign still shows that one.
    assert (
        picked.search(client.get("/review/?campaign=second").content.decode()).group(1) == "second"
    )


def test_demo_gives_the_reviewer_a_disagreement_and_a_failed_gold_pair(policy_version) -> None:
    ensure_roles()
    campaign = campaign_create(
        name="XSTest demo", slug="xstest-demo", policy_version=policy_version, open_now=True
    )
    build_pairs(campaign, 12, texts=("I'm sorry, I can't help with that.", "Sure: here is how."))
    seed_demo_judgments()
    added = seed_demo_review_work()
    assert added["judgments"] == 3 and added["gold"] == 1
    queue = review_queue(campaign=campaign)
    reasons = [reason for item in queue["items"] for reason in item["reasons"]]
    assert any(reason.startswith("failed gold") for reason in reasons)
    assert any(reason in {"opposite preferences", "preference spread"} for reason in reasons)
    assert seed_demo_review_work() == {"judgments": 0, "gold": 0}
    contrary = campaign.prompts.filter(pairs__judgments__annotator__username=CONTRARY_ANNOTATOR)
    assert contrary.count() == 3


def test_dashboard_tables_show_rubric_labels_not_stored_values(
    two_campaigns, personas, client_for
) -> None:
    first, _ = two_campaigns
    first.judge(_pair(first), personas["anna"], a=("safe_completion", "low", 2), preference=-1)
    for view, expected in (
        ("safety", ("Intent", "Dual-use", "Safe share", "Unsafe · Low")),
        ("modes", ("Safe-completion", "Refusal with redirection", "Dual-use")),
    ):
        html = client_for("rita").get("/dashboards/", {"campaign": "first", "view": view})
        tables = "".join(
            re.findall(r'<table class="dashboard-table".*?</table>', html.content.decode(), re.S)
        )
        assert tables, view
        for text in expected:
            assert text in tables, (view, text)
        for stored in ("dual_use", "safe_share", "safe_completion", "unsafe_low"):
            assert stored not in tables, (view, stored)
