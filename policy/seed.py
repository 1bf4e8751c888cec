"""Seed the default policy and publish it as version 1 (used by the data migration and tests)."""

from __future__ import annotations

from typing import Any

from .defaults import default_policy
from .document import build_snapshot
from .models import Category, PolicyVersion, WorkingPolicy


def seed_default_policy(
    category_model: Any, version_model: Any, working_model: Any, user: Any = None
) -> bool:
    """Create the default working taxonomy and publish it as v1; a no-op if any version exists.

    Takes the model classes so the data migration can pass its historical models.
    Returns True when it seeded.
    """
    if version_model.objects.exists():
        return False
    policy = default_policy()
    working, _ = working_model.objects.update_or_create(
        id=1,
        defaults={
            "rubric": policy["rubric"],
            "severity_to_safety": policy["severity_to_safety"],
            "levels": policy["levels"],
        },
    )
    if not category_model.objects.exists():
        by_path: dict[str, Any] = {}
        for entry in policy["categories"]:  # parents come before their children
            by_path[entry["path"]] = category_model.objects.create(
                parent=by_path[entry["parent"]] if entry["parent"] else None,
                slug=entry["slug"],
                path=entry["path"],
                name=entry["name"],
                description=entry["description"],
                guidance=entry["guidance"],
                examples_acceptable=entry["examples_acceptable"],
                examples_unacceptable=entry["examples_unacceptable"],
                active=entry["active"],
                order=entry["order"],
            )
    categories = category_model.objects.select_related("parent").all()
    version_model.objects.create(
        number=1,
        published_by=user,
        notes="The default policy of the rubric (seeded on first run).",
        snapshot=build_snapshot(categories, working),
    )
    return True


def ensure_default_policy() -> bool:
    """Seed with the current models (e.g. after a test flushed the database)."""
    return seed_default_policy(Category, PolicyVersion, WorkingPolicy)
