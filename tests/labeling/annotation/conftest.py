"""Fixtures for the annotation tests.

``campaign`` / ``campaign_with_pairs`` / ``policy_version`` come from tests/labeling/conftest.py.
``make_pairs(campaign, n, gold=0)`` builds ``n`` more pairs quickly (bulk ORM), and
``judge_payload(...)`` builds a valid judgment body in shown order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from labeling.models import Pair

from .factories import build_pairs, ensure_roles, form_fields, payload

__all__ = ["build_pairs", "form_fields", "payload"]

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests create many users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_pairs() -> Callable[..., list[Pair]]:
    return build_pairs


@pytest.fixture
def make_annotators(db: None) -> Callable[..., list[User]]:
    """``n`` extra users holding the annotator role."""

    def _make(count: int, prefix: str = "worker") -> list[User]:
        ensure_roles()
        group = Group.objects.get(name="annotator")
        users = []
        for index in range(count):
            user = User.objects.create_user(username=f"{prefix}{index}", password=PASSWORD)
            user.groups.add(group)
            users.append(user)
        return users

    return _make


@pytest.fixture
def judge_payload() -> Callable[..., dict[str, Any]]:
    return payload


@contextmanager
def pairs_locked_elsewhere(pair_ids: list[int]) -> Iterator[None]:
    """Hold ``pair_ids`` locked from another database session (as a concurrent claim or
    submit does for a moment) until the block ends. Needs a transactional test, whose rows
    that other session can see."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    ) as other:
        other.execute(
            "SELECT id FROM labeling_pair WHERE id = ANY(%s) FOR NO KEY UPDATE", [pair_ids]
        )
        yield
