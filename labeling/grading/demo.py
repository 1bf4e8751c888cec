"""The demo grader: the offline model server (an offline stand-in, not a real model) applying
the demo campaign's policy version, and one grading run over the campaign, so the calibration
page has figures on a newcomer's first visit. XSTest's own labels are the humans it is
measured against (with the demo's sample judgments)."""

from __future__ import annotations

from django.db import transaction

from ..demo import DEMO_ENDPOINT
from ..models import Campaign, Grader, GraderVersion, GradingRun, ModelEndpoint
from . import runs
from .services import grader_create

DEMO_GRADER = "demo-judge"


def seed_demo_grading(campaign: Campaign) -> GradingRun:
    """Create the demo grader (once) and start its grading run over the campaign (once)."""
    with transaction.atomic():
        grader = Grader.objects.filter(name=DEMO_GRADER).first()
        if grader is None:
            version = grader_create(
                name=DEMO_GRADER,
                description=(
                    "The offline model server's grader stand-in (not a real model) applying the "
                    "published policy, three samples per item."
                ),
                endpoint=ModelEndpoint.objects.get(name=DEMO_ENDPOINT),
                policy_version=campaign.policy_version,
                samples=3,
                temperature=0.7,
                seed=1,
            )
        else:
            version = GraderVersion.objects.filter(grader=grader).order_by("-number")[0]
        existing = GradingRun.objects.filter(campaign=campaign, grader_version=version).first()
        if existing is not None:
            return existing
        return runs.run_create(campaign=campaign, grader_version=version)
