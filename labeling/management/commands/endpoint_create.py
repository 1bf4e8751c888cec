from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.generation.endpoints import endpoint_create


class Command(BaseCommand):
    help = "Register an OpenAI-compatible model endpoint (the key stays in the environment)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--base-url", required=True)
        parser.add_argument("--model", required=True)
        parser.add_argument(
            "--api-key-env", default="", help="NAME of the environment variable holding the key"
        )
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            endpoint = endpoint_create(
                name=options["name"],
                base_url=options["base_url"],
                model=options["model"],
                api_key_env=options["api_key_env"],
                timeout_seconds=options["timeout"],
                concurrency_limit=options["concurrency"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"Endpoint {endpoint.name} created ({endpoint.model} at {endpoint.base_url}, "
            f"concurrency {endpoint.concurrency_limit})."
        )
