"""Fixtures of the policy tests: the seeded default policy, snapshots to compare."""

from __future__ import annotations

from typing import Any

import pytest

from policy.seed import ensure_default_policy


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The personas' passwords are hashed with a fast hasher: these tests are not about it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def seeded(db: None) -> None:
    """The default policy published as v1 (the migration seeds it; a flush may have wiped it)."""
    ensure_default_policy()


@pytest.fixture
def working() -> Any:
    """A callable returning the current working snapshot (to prove nothing changed)."""
    from policy.selectors import working_snapshot

    return working_snapshot
