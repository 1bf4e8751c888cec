"""``manage.py render_candidates``: store candidates' HTML where it is missing or stale."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.annotation.services import candidates_render_stale


class Command(BaseCommand):
    help = (
        "Render and store the HTML of candidates stored without it or by another renderer "
        "(run after upgrading markdown or nh3; until then pages render those rows each time)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="candidates per transaction (500)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        rendered = candidates_render_stale(batch_size=options["batch_size"])
        self.stdout.write(f"Rendered {rendered} candidate(s).")
