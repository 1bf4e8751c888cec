"""``manage.py learnability EXPORT_ID|DIR [--json]``: the learnability report of an export."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.learnability.reading import LearnabilityInputError, report_for_folder
from exports.learnability.services import link_surprising_pairs
from exports.manifest import learnability_card
from exports.models import Export
from exports.services import export_folder
from exports.spec import spec_from_stored


class Command(BaseCommand):
    help = (
        "Compute the learnability report of a preference export (openai-dpo, trl-preference): "
        "a small reward model trained on its train split on CPU, scored on validation and "
        "test beside a length-only baseline. Give an export id, or the folder of an unpacked "
        "export archive. Prints the report; stores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", help="an export id, or an unpacked export folder")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        folder, export = self._folder(options["export"])
        try:
            report, pairs = report_for_folder(folder)
        except LearnabilityInputError as error:
            raise CommandError(str(error)) from error
        if export is not None:
            # Name the pairs of surprising rows that carry no pair id, as the worker does.
            link_surprising_pairs(spec_from_stored(export.spec), report, pairs)
        if options["json"]:
            self.stdout.write(orjson.dumps(report, option=orjson.OPT_SORT_KEYS).decode())
            return
        self.stdout.write("\n".join(learnability_card(report)).strip())
        if report["status"] != "ok":
            raise CommandError(report["message"])

    def _folder(self, name: str) -> tuple[Path, Export | None]:
        path = Path(name)
        if path.is_dir():
            return path, None
        try:
            key = uuid.UUID(name)
        except ValueError as error:
            raise CommandError(f"{name}: neither a folder nor an export id") from error
        export = Export.objects.filter(pk=key).first()
        if export is None:
            raise CommandError(f"no export {name}")
        if export.status != Export.Status.COMPLETED:
            raise CommandError(f"export {name} is {export.status}, not completed")
        folder = export_folder(export)
        if not folder.is_dir():
            raise CommandError(f"export {name}: its files are gone")
        return folder, export
