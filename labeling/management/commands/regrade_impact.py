"""``manage.py regrade_impact --grader NAME --from-version A --to-version B [--json]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.grading.impact import FLIP_KINDS, regrade_impact
from labeling.grading.regrade import impact_send_to_review
from labeling.models import GraderVersion

from ._importing import campaign_or_fail

LISTED = 20
"""Flipped items printed per kind without --json (--json lists every one)."""


class Command(BaseCommand):
    help = (
        "Print which labels flip from one grader version to another (a re-grade under another "
        "policy version): safe ↔ unsafe, severity up or down, response mode, helpfulness, and "
        "pair preference direction, overall and per category, with the flipped items."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grader", required=True, help="the grader's name")
        parser.add_argument("--from-version", type=int, required=True, help="the old version")
        parser.add_argument("--to-version", type=int, required=True, help="the re-grade")
        parser.add_argument("--campaign", help="only this campaign (default: every one)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--send-to-review",
            action="store_true",
            help="also send the flipped items to the review queue (once per comparison)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        versions = GraderVersion.objects.filter(grader__name=options["grader"]).select_related(
            "grader", "policy_version"
        )
        if not versions.exists():
            raise CommandError(f"No grader is named {options['grader']!r}.")
        if options["from_version"] == options["to_version"]:
            raise CommandError("Compare two different versions.")
        found: dict[str, GraderVersion] = {}
        for option in ("from_version", "to_version"):
            version = versions.filter(number=options[option]).first()
            if version is None:
                raise CommandError(f"{options['grader']} has no version {options[option]}.")
            found[option] = version
        campaign = campaign_or_fail(options["campaign"]) if options["campaign"] else None
        old, new = found["from_version"], found["to_version"]
        sent = (
            impact_send_to_review(old=old, new=new, campaign=campaign)
            if options["send_to_review"]
            else None
        )
        report = regrade_impact(old=old, new=new, campaign=campaign)
        if sent is not None:
            report["sent_to_review"] = {"added": sent.added, "already": sent.already}
        if options["json"]:
            self.stdout.write(json.dumps(report, default=str))
            return
        self._print(report)

    def _print(self, report: dict[str, Any]) -> None:
        write = self.stdout.write
        old, new = report["old"], report["new"]
        write(
            f"{old['grader']} v{old['number']} (policy v{old['policy_version']}) → "
            f"v{new['number']} (policy v{new['policy_version']})"
            + (f", campaign {report['campaign']}" if report["campaign"] else "")
        )
        if report["partial"]:
            write("PARTIAL: grading runs over these items are still going.")
        for kind in ("candidates", "pairs"):
            counts = report["counts"][kind]
            write(
                f"{kind}: {counts['both']} graded by both, {counts['flipped']} flipped, "
                f"{counts['only_old']} by v{old['number']} only, "
                f"{counts['only_new']} by v{new['number']} only"
            )
        write(
            "flips: " + ", ".join(f"{label} {report['flips'][kind]}" for kind, label in FLIP_KINDS)
        )
        for row in report["by_category"]:
            flips = ", ".join(
                f"{label} {row['flips'][kind]}" for kind, label in FLIP_KINDS if row["flips"][kind]
            )
            write(f"  {row['category']}: {flips or 'no flips'}")
        for item in report["candidates"][:LISTED]:
            changes = "; ".join(change["text"] for change in item["changes"])
            write(f"candidate {item['candidate']} ({item['external_id']}): {changes}")
        for item in report["pairs"][:LISTED]:
            write(f"pair {item['pair']} ({item['external_id']}): {item['changes'][0]['text']}")
        if "sent_to_review" in report:
            sent = report["sent_to_review"]
            write(
                f"sent to review: {len(sent['added'])} added, {len(sent['already'])} already there"
            )
