from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.generation import runs
from labeling.generation.selectors import run_progress
from labeling.generation.styles import BUILT_IN, style_resolve
from labeling.models import GenerationRun, ModelEndpoint

from ._importing import campaign_or_fail


class Command(BaseCommand):
    help = "Start a generation run; with --wait, follow it (and sweep lost work) until it ends."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--endpoint", action="append", required=True, help="repeatable")
        parser.add_argument(
            "--style", action="append", required=True, help=f"repeatable; {', '.join(BUILT_IN)}"
        )
        parser.add_argument("--samples", type=int, default=1)
        parser.add_argument("--temperature", type=float, default=0.7)
        parser.add_argument("--max-tokens", type=int, default=512)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
        parser.add_argument("--wait", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = campaign_or_fail(options["campaign"])
        endpoints = []
        for name in options["endpoint"]:
            endpoint = ModelEndpoint.objects.filter(name=name).first()
            if endpoint is None:
                raise CommandError(f"No endpoint {name!r}.")
            endpoints.append(endpoint)
        try:
            styles = [style_resolve(name) for name in options["style"]]
            run = runs.run_create(
                campaign=campaign,
                endpoints=endpoints,
                styles=styles,
                samples_per_prompt=options["samples"],
                temperature=options["temperature"],
                max_tokens=options["max_tokens"],
                seed=options["seed"],
                prompt_limit=options["limit"],
            )
        except (ValidationError, ValueError) as error:
            messages = error.messages if isinstance(error, ValidationError) else [str(error)]
            raise CommandError("; ".join(messages)) from error
        self.stdout.write(f"Run {run.pk} queued.")
        if not options["wait"]:
            return
        last_sweep = time.monotonic()
        while True:
            time.sleep(1.0)
            if time.monotonic() - last_sweep > 10:
                runs.run_recover(run_id=run.pk)
                last_sweep = time.monotonic()
            run.refresh_from_db()
            progress = run_progress(run=run)
            self.stdout.write(
                f"{run.status}: {progress['finished']}/{run.planned} "
                f"({progress['percent']:.0f}%), {run.failed} failed"
            )
            if run.status not in (GenerationRun.Status.QUEUED, GenerationRun.Status.RUNNING):
                break
        if run.status != GenerationRun.Status.COMPLETED:
            raise CommandError(f"Run {run.pk} ended {run.status}: {run.error}")
