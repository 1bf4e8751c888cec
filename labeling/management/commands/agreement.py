"""``manage.py agreement --campaign SLUG [--json]``: Krippendorff's α and Cohen's κ."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.models import Campaign
from labeling.quality.agreement import FIELDS, agreement_report


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = "Print a campaign's agreement figures (α per field with bootstrap CI, pairwise κ)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--category", help="only prompts of this category path")
        parser.add_argument("--intent", help="only prompts of this intent")
        parser.add_argument(
            "--reps", type=int, default=1000, help="bootstrap resamples (default 1000)"
        )
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            campaign = Campaign.objects.select_related("policy_version").get(
                slug=options["campaign"]
            )
        except Campaign.DoesNotExist as error:
            raise CommandError(f"no campaign with slug {options['campaign']!r}") from error
        if options["reps"] < 0:
            raise CommandError("--reps must be 0 or more")
        report = agreement_report(
            campaign=campaign,
            category=options.get("category"),
            intent=options.get("intent"),
            reps=options["reps"],
            seed=options["seed"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(report, sort_keys=False))
            return
        self.stdout.write(f"Agreement for campaign {campaign.slug}")
        self.stdout.write(f"{'field':<15}{'alpha':>8}  {'95% CI':<17}{'items':>7}{'ratings':>9}")
        for spec in FIELDS:
            row = report[spec.name]
            low, high = row["ci95"]
            interval = f"[{_number(low)}, {_number(high)}]"
            self.stdout.write(
                f"{spec.name:<15}{_number(row['alpha']):>8}  {interval:<17}"
                f"{row['items']:>7}{row['judgments']:>9}"
            )
        if report["kappa"]:
            self.stdout.write("\nCohen's kappa between annotators")
            for entry in report["kappa"]:
                first, second = entry["annotators"]
                self.stdout.write(
                    f"{entry['field']:<15}{first} × {second}: {_number(entry['kappa'])}"
                    f" on {entry['items']} items"
                )
