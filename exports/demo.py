"""Demo data for exports: a ready ``trl-preference`` export of the demo campaign."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from labeling.models import Campaign

from . import services
from .models import Export

DEMO_CAMPAIGN = "xstest-demo"
DEMO_FORMAT = "trl-preference"


def seed_demo_export() -> Export | None:
    """Create and enqueue a trl-preference export of ``xstest-demo``. Idempotent.

    Does nothing when the campaign is missing or an export of it in this format is already
    queued, running or complete. The demo researcher owns it, so that login sees it.
    """
    if not Campaign.objects.filter(slug=DEMO_CAMPAIGN).exists():
        return None
    existing = (
        Export.objects.filter(
            format=DEMO_FORMAT,
            spec__campaigns=[DEMO_CAMPAIGN],
            status__in=[Export.Status.QUEUED, Export.Status.RUNNING, Export.Status.COMPLETED],
        )
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    owner = get_user_model().objects.filter(username="researcher").first()
    return services.export_create(
        user=owner,
        data={"format": DEMO_FORMAT, "campaigns": [DEMO_CAMPAIGN], "preference_source": "human"},
    )
