from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.compare.figures import PREFERENCE_SOURCES, RESAMPLES
from labeling.compare.selectors import report_for, selection_from
from labeling.models import Campaign


def _interval(ci95: list[float | None]) -> str:
    return "—" if ci95[0] is None else f"[{ci95[0]:.3f}, {ci95[1]:.3f}]"


class Command(BaseCommand):
    help = (
        "Head-to-head win rates (ties half, bootstrap 95% intervals) of a campaign's sources "
        "and their Bradley–Terry ranking, from human or grader preferences or both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--source", choices=PREFERENCE_SOURCES, default="human")
        parser.add_argument("--grader", default="", help="grader name (grader, both)")
        parser.add_argument(
            "--grader-version", type=int, default=None, help="grader version number"
        )
        parser.add_argument("--intent", default="")
        parser.add_argument("--category", default="")
        parser.add_argument("--reps", type=int, default=RESAMPLES, help="bootstrap resamples")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(slug=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign {options['campaign']!r}.")
        params = {
            "source": options["source"],
            "grader": options["grader"],
            "version": str(options["grader_version"])
            if options["grader_version"] is not None
            else "",
            "intent": options["intent"],
            "category": options["category"],
        }
        try:
            selection = selection_from(campaign, params)
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from error
        report = report_for(campaign, selection, reps=options["reps"], seed=options["seed"])
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        grader = report["grader"]
        self.stdout.write(
            f"{campaign.slug}: from {report['labels']}"
            + (f", grader {grader['name']} v{grader['version']}" if grader else "")
            + f"; {report['comparisons']['total']} comparisons on "
            f"{report['comparisons']['pairs']} pairs"
        )
        for note in report["notes"]:
            self.stdout.write(f"note: {note}")
        self.stdout.write("head to head (win rate of the first, ties half):")
        for row in report["head_to_head"]:
            rate = "—" if row["win_rate"] is None else f"{row['win_rate']:.3f}"
            self.stdout.write(
                f"  {row['first']} vs {row['second']}: {rate} {_interval(row['ci95'])} "
                f"over {row['pairs']} pairs" + (f" ({row['note']})" if row["note"] else "")
            )
        self.stdout.write("Bradley–Terry ranking (log-strength, mean 0):")
        for row in report["ranking"]:
            self.stdout.write(
                f"  {row['rank']}. {row['source']}: {row['strength']:.3f} {_interval(row['ci95'])}"
            )
        for row in report["unranked"]:
            self.stdout.write(f"  unranked: {row['source']} ({row['reason']})")
