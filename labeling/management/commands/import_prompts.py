from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from labeling.imports.common import ImportFailed
from labeling.imports.prompts import FORMATS, load_mapping_file, prompt_import

from ._importing import campaign_or_fail, fail_with_problems, print_report


class Command(BaseCommand):
    help = "Import prompts (CSV, JSONL, .gz, or the XSTest preset). All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument("--format", choices=FORMATS, default="")
        parser.add_argument("--default-category", default=None)
        parser.add_argument("--default-intent", default=None)
        parser.add_argument("--mapping", default=None, help="JSON/YAML category/intent mapping")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = campaign_or_fail(options["campaign"])
        try:
            mapping = load_mapping_file(options["mapping"]) if options["mapping"] else None
            report = prompt_import(
                campaign=campaign,
                source=options["file"],
                file_format=options["format"],
                filename=options["file"],
                default_category=options["default_category"],
                default_intent=options["default_intent"],
                mapping=mapping,
            )
        except ImportFailed as error:
            fail_with_problems(self, error)
            return
        except OSError as error:
            from django.core.management.base import CommandError

            raise CommandError(f"cannot read {options['file']}: {error.strerror}") from error
        print_report(self, report, "prompt(s)")
