"""``manage.py offline_model_server``: run the offline model server (an offline stand-in).

A thin wrapper: the server itself lives in :mod:`offline_model.server` and does not
use Django at all.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from offline_model.server import add_arguments, options_from_arguments, run


class Command(BaseCommand):
    help = (
        "Run the offline OpenAI-compatible model server (an offline stand-in, not a real "
        "model) with settable latency and fault injection. Stops on SIGINT or SIGTERM."
    )
    # It touches no database and no models: start at once, even mid-migration.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host, port, server_options = options_from_arguments(options)
        except ValueError as error:
            raise CommandError(str(error)) from error

        def announce(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            run(host, port, server_options, announce=announce)
        except OSError as error:
            raise CommandError(f"Cannot listen on {host}:{port}: {error}") from error
        self.stdout.write("Offline model server stopped.")
