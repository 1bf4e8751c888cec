"""``manage.py policy_import FILE [--format json|yaml] [--user NAME]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from policy.document import FORMATS, PolicyError, guess_format, parse_document
from policy.services import policy_import


def user_by_name(name: str | None) -> Any:
    if not name:
        return None
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise CommandError(f"user: no user named {name!r}")
    return user


class Command(BaseCommand):
    help = "Replace the working taxonomy, rubric and mapping with a JSON or YAML file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="A policy document (.json, .yaml or .yml)")
        parser.add_argument("--format", choices=FORMATS, help="Default: from the extension")
        parser.add_argument("--user", help="Record the change under this user name")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        file_format = options["format"] or guess_format(path.name)
        if file_format is None:
            raise CommandError("format: cannot tell from the file name; pass --format")
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"file: cannot read {path}: {error.strerror}") from error
        user = user_by_name(options.get("user"))
        try:
            result = policy_import(user=user, document=parse_document(content, file_format))
        except PolicyError as error:
            for field, reason in error.errors:
                self.stderr.write(f"{field}: {reason}")
            raise CommandError("nothing was imported") from error
        self.stdout.write(
            f"Imported {result.categories} categories into the working taxonomy "
            "(publish with `policy_publish --notes ...`)."
        )
