from __future__ import annotations

import json
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.broker import BrokerUnavailable
from labeling.grading import runs
from labeling.grading.selectors import grader_current_version
from labeling.models import Grader, GradingRun

from ._importing import campaign_or_fail


class Command(BaseCommand):
    help = (
        "Start a grading run of a grader's current version over a campaign's candidates and "
        "pairs (both when neither is named); with --wait, follow it (and sweep lost work) until "
        "it ends, then print its counters as one JSON object on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--grader", required=True, help="the grader's name")
        parser.add_argument("--candidates", action="store_true", help="grade each candidate")
        parser.add_argument("--pairs", action="store_true", help="grade each pair, both orders")
        parser.add_argument(
            "--limit", type=int, default=None, help="only the first N candidates and N pairs"
        )
        parser.add_argument("--wait", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = campaign_or_fail(options["campaign"])
        grader = Grader.objects.filter(name=options["grader"]).first()
        if grader is None:
            raise CommandError(f"No grader is named {options['grader']!r}.")
        both = not (options["candidates"] or options["pairs"])
        try:
            run = runs.run_create(
                campaign=campaign,
                grader_version=grader_current_version(grader=grader),
                candidates=both or options["candidates"],
                pairs=both or options["pairs"],
                limit=options["limit"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        except BrokerUnavailable as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Grading run {run.pk} queued.")
        if not options["wait"]:
            return
        last_sweep = time.monotonic()
        while True:
            time.sleep(1.0)
            if time.monotonic() - last_sweep > 10:
                runs.run_recover(run_id=run.pk)
                last_sweep = time.monotonic()
            run.refresh_from_db()
            self.stdout.write(
                f"{run.status}: {run.graded + run.failed}/{run.planned}, {run.failed} failed"
            )
            if not run.is_active:
                break
        counters = {
            "run": run.pk,
            "planned": run.planned,
            "graded": run.graded,
            "failed": run.failed,
        }
        self.stdout.write(json.dumps(counters))
        if run.status != GradingRun.Status.COMPLETED:
            # After the counters, on stderr: the last line of the output stays the JSON object.
            raise CommandError(f"Grading run {run.pk} ended {run.status}: {run.error}")
