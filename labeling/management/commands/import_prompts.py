from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from labeling.imports.prompts import FORMATS, prompt_import

from ._importing import run_import


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
        run_import(self, options, "prompt(s)", prompt_import)
