from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.grading.services import grader_create
from labeling.models import ModelEndpoint
from policy.models import PolicyVersion
from policy.selectors import latest_version


class Command(BaseCommand):
    help = (
        "Create a grader (version 1): a model endpoint applying a published policy version "
        "through the default prompt templates, or your own candidate template."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the grader's name (letters, digits, - and _)")
        parser.add_argument("--endpoint", required=True, help="the model endpoint's name")
        parser.add_argument(
            "--policy-version", type=int, help="the version to apply (default: the latest)"
        )
        parser.add_argument("--samples", type=int, default=1, help="answers per item (1-16)")
        parser.add_argument("--temperature", type=float, default=0.0)
        parser.add_argument(
            "--template", type=Path, help="a file holding the candidate prompt template"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = ModelEndpoint.objects.filter(name=options["endpoint"]).first()
        if endpoint is None:
            raise CommandError(f"No endpoint is named {options['endpoint']!r}.")
        try:
            policy_version = (
                latest_version()
                if options["policy_version"] is None
                else PolicyVersion.objects.get(number=options["policy_version"])
            )
        except PolicyVersion.DoesNotExist as error:
            wanted = options["policy_version"]
            raise CommandError(
                "No policy version is published."
                if wanted is None
                else f"No policy version {wanted} is published."
            ) from error
        template = None
        if options["template"] is not None:
            try:
                template = options["template"].read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"Cannot read the template: {error}") from error
        try:
            version = grader_create(
                name=options["name"],
                endpoint=endpoint,
                policy_version=policy_version,
                samples=options["samples"],
                temperature=options["temperature"],
                candidate_template=template,
            )
        except ValidationError as error:
            raise CommandError(_problems(error)) from error
        self.stdout.write(
            f"Grader {version.grader.name} created: version 1, endpoint {endpoint.name} "
            f"(model {version.model}), policy version {policy_version.number}, "
            f"{version.samples} sample(s) at temperature {version.temperature:g}."
        )


def _problems(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return "; ".join(error.messages)
