"""``manage.py grader_agreement --campaign SLUG --grader NAME [--json]``: grader against humans."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.grading.calibration import grader_calibration, summary_row
from labeling.models import Campaign, Grade, GraderVersion
from labeling.quality.agreement import FIELDS
from policy.rubric import INTENTS


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = (
        "Print how a grader agrees with the humans of a campaign, per rubric field: "
        "Krippendorff's α with a bootstrap 95% interval, Cohen's κ, and α among the humans."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--grader", required=True, help="the grader's name")
        parser.add_argument(
            "--grader-version",
            type=int,
            help="the grader version (default: its latest with grades)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--category", help="only prompts of this category path")
        parser.add_argument("--intent", choices=INTENTS, help="only prompts of this intent")
        parser.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"no campaign with slug {options['campaign']!r}")
        if options["reps"] < 0:
            raise CommandError("--reps must be 0 or more")
        versions = GraderVersion.objects.filter(grader__name=options["grader"])
        if not versions.exists():
            raise CommandError(f"no grader named {options['grader']!r}")
        if options["grader_version"] is not None:
            version = versions.filter(number=options["grader_version"]).first()
            if version is None:
                raise CommandError(
                    f"grader {options['grader']!r} has no version {options['grader_version']}"
                )
        else:
            graded = versions.filter(pk__in=Grade.objects.values("grader_version"))
            version = graded.order_by("-number").first() or versions.order_by("-number").first()
        assert version is not None
        figures = grader_calibration(
            version=version,
            campaign=campaign,
            category=options.get("category"),
            intent=options.get("intent"),
            reps=options["reps"],
            seed=options["seed"],
        )
        if options["json"]:
            report = {spec.name: summary_row(figures[spec.name]) for spec in FIELDS}
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(
            f"Grader {version.grader.name} v{version.number} against the humans of {campaign.slug}"
        )
        self.stdout.write(
            f"{'field':<15}{'alpha':>8}  {'95% CI':<17}{'kappa':>8}{'items':>7}{'human α':>9}"
        )
        for spec in FIELDS:
            row = figures[spec.name]
            low, high = row["ci95"]
            interval = f"[{_number(low)}, {_number(high)}]"
            self.stdout.write(
                f"{spec.name:<15}{_number(row['alpha']):>8}  {interval:<17}"
                f"{_number(row['kappa']):>8}{row['items']:>7}{_number(row['human_alpha']):>9}"
            )
