"""Publishing and editing at the same time from several connections (real PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from policy import services
from policy.models import Category, PolicyVersion
from policy.seed import ensure_default_policy


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_take_distinct_numbers_and_consistent_snapshots() -> None:
    ensure_default_policy()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def publish(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            services.policy_publish(user=None, notes=f"thread {index}")
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)
        finally:
            connection.close()

    def edit() -> None:
        try:
            barrier.wait(timeout=30)
            biology = Category.objects.get(path="biology")
            services.category_update(user=None, category=biology, slug="bio")
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=edit))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    numbers = sorted(PolicyVersion.objects.values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4]
    # Every snapshot saw the rename entirely or not at all, never half a subtree.
    for version in PolicyVersion.objects.all():
        paths = [c["path"] for c in version.snapshot["categories"]]
        prefixes = {path.split("/")[0] for path in paths}
        assert not ({"biology", "bio"} <= prefixes), version.number
