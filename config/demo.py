"""Demo data for ``make demo``: one user per role, with known passwords (demo only)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.roles import ALL_ROLES

DEMO_PASSWORD_SUFFIX = "-demo-pass"  # noqa: S105 - demo logins only, printed by make demo


def demo_users() -> list[tuple[str, str, str]]:
    """(user name, password, role) of every demo login."""
    return [(str(role), f"{role}{DEMO_PASSWORD_SUFFIX}", str(role)) for role in ALL_ROLES]


@transaction.atomic
def seed_demo_users() -> None:
    """Create (or reset) the demo logins. Idempotent."""
    user_model = get_user_model()
    for name, password, role in demo_users():
        user, _ = user_model.objects.get_or_create(username=name)
        user.set_password(password)
        user.is_staff = role == "admin"
        user.save()
        user.groups.set(Group.objects.filter(name=role))
