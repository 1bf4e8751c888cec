from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from labeling.campaigns.services import campaign_create
from policy.models import PolicyVersion


class Command(BaseCommand):
    help = "Create a campaign pinned to a policy version (default: the latest)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--policy-version", type=int, default=None)
        parser.add_argument("--judgments-per-pair", type=int, default=3)
        parser.add_argument("--instructions", default="")
        parser.add_argument("--open", action="store_true", help="open it for annotation now")

    def handle(self, *args: Any, **options: Any) -> None:
        version = None
        if options["policy_version"] is not None:
            version = PolicyVersion.objects.filter(number=options["policy_version"]).first()
            if version is None:
                raise CommandError(f"No policy version {options['policy_version']}.")
        try:
            campaign = campaign_create(
                name=options["name"],
                slug=options["slug"],
                policy_version=version,
                instructions=options["instructions"],
                judgments_per_pair=options["judgments_per_pair"],
                open_now=options["open"],
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"Campaign {campaign.slug} created ({campaign.status}, policy "
            f"v{campaign.policy_version.number}, k={campaign.judgments_per_pair})."
        )
