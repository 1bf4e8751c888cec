"""Load the demo data. Idempotent: running it again tops up what is missing and nothing more."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.demo import seed_demo_users
from exports.demo import seed_demo_export
from labeling.annotation.demo import seed_demo_judgments
from labeling.demo import seed_demo_campaign
from labeling.demo_review import seed_demo_review_work
from labeling.generation.runs import run_recover
from labeling.grading.demo import seed_demo_grading
from labeling.grading.runs import run_recover as grading_run_recover
from labeling.models import Campaign, GenerationRun, GradingRun


class Command(BaseCommand):
    help = (
        "Load the demo data: users, the XSTest demo campaign and its generation run, and, once "
        "a worker has generated the candidates (--finish), sample judgments, a ready export and "
        "a graded campaign with its calibration."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--finish",
            action="store_true",
            help="wait for the demo generation run (needs a running worker and model server), "
            "then add sample judgments and start the demo export",
        )
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait")

    def handle(self, *args: Any, **options: Any) -> None:
        seed_demo_users()
        campaign = seed_demo_campaign()
        self.stdout.write(f"Demo users and campaign {campaign.slug!r} ready.")
        if options["finish"]:
            self._finish(campaign.pk, options["timeout"])

    def _finish(self, campaign_id: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        active = (GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING)
        while GenerationRun.objects.filter(campaign_id=campaign_id, status__in=active).exists():
            if time.monotonic() > deadline:
                raise CommandError("The demo generation run did not finish in time.")
            # Picks up work left behind if an earlier demo was stopped half-way.
            run_recover(stall_seconds=30)
            time.sleep(2)
        created = seed_demo_judgments()
        review_work = seed_demo_review_work()
        created += review_work["judgments"]
        export = seed_demo_export()
        self.stdout.write(
            f"Demo judgments added: {created} (a disagreement and {review_work['gold']} failed "
            "gold pair for the reviewer). Demo export: "
            f"{export.pk if export is not None else 'none'} ({'queued' if export else '-'})."
        )
        campaign = Campaign.objects.get(pk=campaign_id)
        grading = seed_demo_grading(campaign)
        active_grading = (GradingRun.Status.QUEUED, GradingRun.Status.RUNNING)
        while GradingRun.objects.filter(pk=grading.pk, status__in=active_grading).exists():
            if time.monotonic() > deadline:
                raise CommandError("The demo grading run did not finish in time.")
            grading_run_recover(run_id=grading.pk, stall_seconds=30)
            time.sleep(2)
        grading.refresh_from_db()
        self.stdout.write(
            f"Demo grading run {grading.pk}: {grading.graded} of {grading.planned} graded by "
            f"the offline grader stand-in; calibration at /campaigns/{campaign.slug}/calibration/"
        )
