"""``manage.py policy_export [--version N] [--format json|yaml] [--out FILE]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from policy.document import FORMATS, dump_document
from policy.models import PolicyVersion
from policy.selectors import export_for


class Command(BaseCommand):
    help = "Write a published version (or the working policy) as JSON or YAML."

    def add_base_argument(self, parser: Any, *args: Any, **kwargs: Any) -> None:
        # Django's own --version (print Django's version) would shadow the policy version.
        if "--version" in args:
            return
        super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--version", type=int, help="Version number; default: working copy")
        parser.add_argument("--format", choices=FORMATS, default="json")
        parser.add_argument("--out", help="Output file; default: standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        number = options.get("version")
        if number is not None and not PolicyVersion.objects.filter(number=number).exists():
            raise CommandError(f"version: no published version {number}")
        content = dump_document(export_for(number), options["format"])
        if options.get("out"):
            Path(options["out"]).write_text(content, encoding="utf-8")
        else:
            self.stdout.write(content, ending="")
