"""``manage.py export``: run an export in this process and copy its files to a folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports import services
from exports.learnability import services as learnability_services
from exports.models import Export
from exports.spec import (
    ARCHIVE_FORMATS,
    FORMATS,
    LABEL_AGGREGATIONS,
    LABEL_SOURCE_CHOICES,
    LABEL_SOURCES,
    PREFERENCE_SOURCES,
)


class Command(BaseCommand):
    help = (
        "Export judgments (or a grader's grades) of one or more campaigns in a training format. "
        "Runs the same job as "
        "the web page and the API, here and now, and copies the result to --out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", action="append", required=True, help="slug; repeatable")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--out", required=True, type=Path, help="folder to write into")
        parser.add_argument("--category", action="append", default=[], help="path; repeatable")
        parser.add_argument("--intent", action="append", default=[], help="repeatable")
        parser.add_argument("--date-from", help="YYYY-MM-DD (judgment date, inclusive)")
        parser.add_argument("--date-to", help="YYYY-MM-DD (judgment date, inclusive)")
        parser.add_argument("--policy-version", type=int)
        parser.add_argument("--min-judgments", type=int, default=1)
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument("--preference-source", choices=PREFERENCE_SOURCES, default="human")
        parser.add_argument("--min-margin", type=float, default=0.0)
        parser.add_argument("--sft-threshold", type=float, default=0.66)
        parser.add_argument("--kto-threshold", type=float, default=0.5)
        parser.add_argument(
            "--split",
            default="0.9,0.05,0.05",
            help="train,validation,test shares (default 0.9,0.05,0.05)",
        )
        parser.add_argument("--seed", type=int, default=1234)
        parser.add_argument(
            "--labels",
            default="raw,review",
            help=f"labels to trust, comma-separated from {','.join(LABEL_SOURCES)}",
        )
        parser.add_argument(
            "--label-source",
            choices=LABEL_SOURCE_CHOICES,
            default="human",
            help="whose labels: human (default), grader, or human-else-grader",
        )
        parser.add_argument(
            "--combine",
            choices=LABEL_AGGREGATIONS,
            default="majority",
            help="how raters combine: majority (default) or consensus (the campaign's "
            "consensus model, see manage.py consensus)",
        )
        parser.add_argument("--grader", help="the grader whose labels to use (name)")
        parser.add_argument(
            "--grader-version",
            type=int,
            help="its version (default: its newest that graded the selection)",
        )
        parser.add_argument(
            "--min-grader-confidence",
            type=float,
            default=0.0,
            help="grades under this confidence do not qualify (0..1)",
        )
        parser.add_argument("--real-names", action="store_true", help="no annotator pseudonyms")
        parser.add_argument("--archive-format", choices=ARCHIVE_FORMATS, default="tar.gz")
        parser.add_argument("--user", help="record this user name as the export's author")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            shares = [float(part) for part in options["split"].split(",")]
        except ValueError as error:
            raise CommandError(f"--split: {error}") from error
        if len(shares) != 3:
            raise CommandError("--split needs three shares: train,validation,test")
        data = {
            "format": options["format"],
            "campaigns": options["campaign"],
            "categories": options["category"],
            "intents": options["intent"],
            "date_from": options["date_from"],
            "date_to": options["date_to"],
            "policy_version": options["policy_version"],
            "min_judgments": options["min_judgments"],
            "min_agreement": options["min_agreement"],
            "preference_source": options["preference_source"],
            "min_margin": options["min_margin"],
            "sft_threshold": options["sft_threshold"],
            "kto_threshold": options["kto_threshold"],
            "split_ratios": dict(zip(("train", "validation", "test"), shares, strict=True)),
            "seed": options["seed"],
            "label_sources": [p for p in options["labels"].split(",") if p],
            "pseudonymise_annotators": not options["real_names"],
            "archive_format": options["archive_format"],
            "label_source": options["label_source"],
            "labels": options["combine"],
            "grader": options["grader"],
            "grader_version": options["grader_version"],
            "min_grader_confidence": options["min_grader_confidence"],
        }
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
        try:
            export = services.export_create(user=user, data=data, enqueue=False)
        except ValidationError as error:
            messages = getattr(error, "message_dict", {"settings": error.messages})
            lines = [f"{field}: {'; '.join(msgs)}" for field, msgs in messages.items()]
            raise CommandError("invalid export settings:\n  " + "\n  ".join(lines)) from error
        export = services.export_run(export_id=export.id, enqueue_learnability=False)
        if export.status != Export.Status.COMPLETED:
            raise CommandError(f"export {export.id} failed: {export.error}")
        if export.learnability_status == Export.Status.QUEUED:
            # Here and now as well, so the copied manifest and card carry the report.
            export = learnability_services.export_learnability_run(export_id=export.id)
        out: Path = options["out"]
        destination = out / f"graylab-export-{export.id}"
        shutil.copytree(services.export_folder(export), destination)
        counts = export.manifest["counts"] if export.manifest else {}
        self.stdout.write(
            f"export {export.id}: {counts.get('rows_written', 0)} rows from "
            f"{counts.get('pairs_considered', 0)} pairs → {destination}"
        )
