"""``manage.py policy_publish --notes TEXT [--user NAME]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from policy.document import PolicyError
from policy.management.commands.policy_import import user_by_name
from policy.services import policy_publish


class Command(BaseCommand):
    help = "Freeze the working taxonomy, rubric and mapping as the next policy version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--notes", required=True, help="What changed and why")
        parser.add_argument("--user", help="Record the version as published by this user")

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_by_name(options.get("user"))
        try:
            version = policy_publish(user=user, notes=options["notes"])
        except PolicyError as error:
            for field, reason in error.errors:
                self.stderr.write(f"{field}: {reason}")
            raise CommandError("nothing was published") from error
        self.stdout.write(f"Published policy version {version.number}.")
