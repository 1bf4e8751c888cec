from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.imports.candidates import FORMATS, candidate_import
from labeling.imports.common import ImportFailed
from labeling.imports.prior_labels import label_mapping_parse

from ._importing import fail_with_problems, run_import


class Command(BaseCommand):
    help = "Import completions written elsewhere as candidates (and build pairs). All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--campaign", required=True, help="campaign slug")
        parser.add_argument(
            "--format", choices=FORMATS, default="", help="detected from the file when not given"
        )
        parser.add_argument("--source", default="", help="source name (xstest: from the file)")
        parser.add_argument("--default-category", default=None, help="for prompts not yet known")
        parser.add_argument("--default-intent", default=None, help="for prompts not yet known")
        parser.add_argument("--mapping", default=None, help="JSON/YAML category/intent mapping")
        parser.add_argument(
            "--label-mapping",
            default=None,
            metavar="FILE",
            help="JSON/YAML mapping of prior labels' foreign values onto the rubric's",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        label_mapping = None
        if options["label_mapping"]:
            try:
                with open(options["label_mapping"], encoding="utf-8") as handle:
                    label_mapping = label_mapping_parse(handle.read()).as_dict()
            except ImportFailed as error:
                fail_with_problems(self, error)
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"cannot read {options['label_mapping']}: {error}") from error
        run_import(
            self,
            options,
            "candidate(s)",
            candidate_import,
            source_name=options["source"],
            label_mapping=label_mapping,
        )
