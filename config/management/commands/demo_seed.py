from typing import Any

from django.core.management.base import BaseCommand

from config.demo import seed_demo_users


class Command(BaseCommand):
    help = "Load the demo data (users, campaign, candidates, judgments). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        seed_demo_users()
        self.stdout.write("Demo users ready.")
