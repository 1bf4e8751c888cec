"""``manage.py regrade --grader NAME --policy-version N [--campaign SLUG] [--wait]``."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.broker import BrokerUnavailable
from labeling.grading import runs
from labeling.grading.regrade import grader_regrade
from labeling.models import Grader, GradingRun

from ._importing import campaign_or_fail


def _messages(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(problems)}" for field, problems in error.message_dict.items()
        )
    return "; ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Re-grade what a grader's current version graded under another published policy "
        "version: make (or reuse) the version that differs in its policy version only and "
        "start one grading run per campaign over the same items. With --wait, follow the runs "
        "(sweeping lost work) and print, as the last line, one JSON object with the versions "
        "and each run's final counters."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grader", required=True, help="the grader's name")
        parser.add_argument("--policy-version", type=int, required=True)
        parser.add_argument("--campaign", help="only this campaign (default: every one graded)")
        parser.add_argument(
            "--grade-missing-categories",
            action="store_true",
            help="re-grade the rest when the policy version lacks some items' categories "
            "(those items fail, each naming its category); refused otherwise",
        )
        parser.add_argument("--wait", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        grader = Grader.objects.filter(name=options["grader"]).first()
        if grader is None:
            raise CommandError(f"No grader is named {options['grader']!r}.")
        campaign = campaign_or_fail(options["campaign"]) if options["campaign"] else None
        try:
            done = grader_regrade(
                grader=grader,
                policy_version=options["policy_version"],
                campaign=campaign,
                grade_missing_categories=options["grade_missing_categories"],
            )
        except ValidationError as error:
            raise CommandError(_messages(error)) from error
        except BrokerUnavailable as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"{grader.name} v{done.version.number} (policy version "
            f"{done.version.policy_version.number}"
            + (", new" if done.version_created else "")
            + f") re-grades v{done.source.number}: "
            + ", ".join(
                f"run {run.pk} ({run.campaign.slug}, "
                f"{'started' if run in done.started else run.status})"
                for run in done.runs
            )
        )
        for path, items in done.missing_categories.items():
            self.stdout.write(f"missing from the policy version: {path} ({items} items)")
        if not options["wait"]:
            return
        pending = list(done.runs)
        last_sweep = time.monotonic()
        while any(run.is_active for run in pending):
            time.sleep(1.0)
            if time.monotonic() - last_sweep > 10:
                for run in pending:
                    if run.is_active:
                        runs.run_recover(run_id=run.pk)
                last_sweep = time.monotonic()
            for run in pending:
                run.refresh_from_db()
            self.stdout.write(
                "; ".join(
                    f"run {run.pk} {run.status}: {run.graded + run.failed}/{run.planned}"
                    for run in pending
                )
            )
        self.stdout.write(
            json.dumps(
                {
                    "grader": grader.name,
                    "from_version": done.source.number,
                    "version": done.version.number,
                    "runs": [
                        {
                            "run": run.pk,
                            "campaign": run.campaign.slug,
                            "planned": run.planned,
                            "graded": run.graded,
                            "failed": run.failed,
                        }
                        for run in pending
                    ],
                }
            )
        )
        unfinished = [run for run in pending if run.status != GradingRun.Status.COMPLETED]
        if unfinished:
            # After the JSON, on stderr: the last line of the output stays the JSON object.
            raise CommandError(
                "; ".join(
                    f"Grading run {run.pk} ended {run.status}: {run.error}" for run in unfinished
                )
            )
