from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from labeling.imports.candidates import FORMATS, candidate_import

from ._importing import run_import


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

    def handle(self, *args: Any, **options: Any) -> None:
        run_import(self, options, "candidate(s)", candidate_import, source_name=options["source"])
