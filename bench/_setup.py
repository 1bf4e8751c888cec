"""Django set-up shared by the benchmarks (they run against the configured database)."""

from __future__ import annotations

import os


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    # The benchmarks bring their database up to date themselves (make bench on a fresh server).
    call_command("migrate", verbosity=0, interactive=False)


def bench_campaign(slug: str):  # type: ignore[no-untyped-def]
    """A fresh campaign for one benchmark run (an earlier one with that slug is removed)."""
    from labeling.campaigns.services import campaign_create
    from labeling.models import Campaign
    from policy.models import PolicyVersion

    Campaign.objects.filter(slug=slug).delete()
    version = PolicyVersion.objects.order_by("-number").first()
    if version is None:
        from policy.seed import ensure_default_policy

        ensure_default_policy()
        version = PolicyVersion.objects.order_by("-number").first()
    return campaign_create(name=slug, slug=slug, policy_version=version)
