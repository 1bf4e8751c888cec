"""``manage.py consensus --campaign SLUG [--json]``: consensus labels and rater reliabilities."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Campaign, ConsensusRun
from labeling.quality.consensus import CONSENSUS_FIELDS, consensus_run_execute


class Command(BaseCommand):
    help = (
        "Compute a campaign's consensus (Dawid–Skene per field), store it, send likely label "
        "errors to review, and print per field: items, raters with reliabilities, agreement "
        "with the majority vote, flagged items."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign with slug {options['campaign']!r}")
        run = ConsensusRun.objects.create(campaign=campaign)
        done = consensus_run_execute(run_id=run.pk)
        assert done is not None
        summary = done.summary
        if options["json"]:
            payload = {
                "run": done.pk,
                "campaign": campaign.slug,
                "computed_at": done.computed_at.isoformat() if done.computed_at else None,
                **{name: summary[name] for name in CONSENSUS_FIELDS},
                "review": summary.get("review"),
            }
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(f"Consensus run {done.pk} of {campaign.slug} ({done.compute_seconds} s)")
        for name in CONSENSUS_FIELDS:
            row = summary[name]
            if row["problem"]:
                self.stdout.write(f"{name}: {row['problem']}")
                continue
            self.stdout.write(
                f"{name}: {row['items']} items, agreement with majority "
                f"{row['agreement_with_majority']:.3f} ({row['differs_from_majority']} differ), "
                f"{row['flagged']} flagged"
            )
            for rater in row["raters"]:
                self.stdout.write(
                    f"  {rater['rater']:<40} reliability {rater['reliability']:.3f}"
                    f"  ({rater['items']} items)"
                )
        review = summary.get("review") or {}
        self.stdout.write(
            f"Review queue: {review.get('added', 0)} pairs added "
            f"({review.get('flagged_pairs', 0)} flagged, {review.get('sent', 0)} sent"
            f", {review.get('over_cap', 0)} over the cap of {review.get('cap')})"
        )
