"""The demo seeding: judgments through the services, idempotent."""

from __future__ import annotations

from labeling.annotation.demo import DEMO_ANNOTATORS, seed_demo_judgments
from labeling.campaigns.services import campaign_create
from labeling.models import Judgment

from .factories import build_pairs, ensure_roles


def test_seed_demo_judgments_is_idempotent(policy_version):
    ensure_roles()
    assert seed_demo_judgments() == 0  # no demo campaign yet: nothing to do
    campaign = campaign_create(
        name="XSTest demo", slug="xstest-demo", policy_version=policy_version, open_now=True
    )
    build_pairs(campaign, 12, texts=("I'm sorry, I can't help with that.", "Sure: here is how."))
    created = seed_demo_judgments()
    assert created == sum(wanted for _name, wanted, _generous in DEMO_ANNOTATORS)
    assert seed_demo_judgments() == 0
    assert Judgment.objects.count() == created
    names = set(Judgment.objects.values_list("annotator__username", flat=True))
    assert names == {name for name, _wanted, _generous in DEMO_ANNOTATORS}
    # Every pair respects k, and each judgment went through the real claim (an assignment).
    assert not Judgment.objects.filter(assignment__isnull=True).exists()
    for pair in campaign.prompts.all():
        assert Judgment.objects.filter(pair__prompt=pair).count() <= campaign.judgments_per_pair
