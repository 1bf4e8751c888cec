"""A per-endpoint concurrency limit that holds across every worker process and host.

On Redis (the production broker): a sorted set per endpoint whose members are lease tokens
scored by their expiry time. Acquiring is one Lua script — drop expired leases, then add ours
only if fewer than ``limit`` remain — so it is atomic on the server, and a worker killed while
holding a lease loses it when the lease expires, never forever. A release also pushes a
wake-up onto a list that waiters block on (``BLPOP``), so a freed slot is taken again within a
round trip instead of a polling interval, and waiters cost nothing while they wait.

On the embedded filesystem broker (the demo, one host): ``limit`` lock files per endpoint held
with ``flock``; the kernel releases a dead process's locks at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
from django.conf import settings

# One round trip per try. The Redis server's clock decides which leases expired, so hosts with
# skewed clocks agree (Redis >= 5 replicates a script's effects, so TIME is allowed here).
# ARGV: lease (ms), limit, token, key expiry (ms). Returns 1 if the token now holds a slot.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return 0
"""


# A waiter for a Redis slot tries again at least this often even if no release woke it.
RECHECK_SECONDS = 0.25


class SemaphoreTimeout(Exception):
    """No slot became free in time; the caller puts its work back for later."""


@lru_cache(maxsize=1)
def _redis() -> Any:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


@lru_cache(maxsize=1)
def _acquire_script() -> Any:
    return _redis().register_script(_ACQUIRE)


def _uses_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def _key(endpoint_id: int) -> str:
    return f"graylab:endpoint-semaphore:{endpoint_id}"


def _freed_key(endpoint_id: int) -> str:
    return f"graylab:endpoint-semaphore:{endpoint_id}:freed"


def _redis_now_ms(client: Any) -> int:
    # The Redis server's clock, so hosts with skewed clocks agree on which leases expired.
    seconds, microseconds = client.time()
    return int(seconds) * 1000 + int(microseconds) // 1000


@contextlib.contextmanager
def endpoint_slot(
    endpoint_id: int, limit: int, *, lease_seconds: float, wait_seconds: float
) -> Iterator[None]:
    """Hold one of ``limit`` slots of an endpoint for the duration of the block."""
    if _uses_redis():
        with _redis_slot(endpoint_id, limit, lease_seconds, wait_seconds):
            yield
    else:
        with _file_slot(endpoint_id, limit, wait_seconds):
            yield


@contextlib.contextmanager
def _redis_slot(
    endpoint_id: int, limit: int, lease_seconds: float, wait_seconds: float
) -> Iterator[None]:
    client = _redis()
    script = _acquire_script()
    token = uuid.uuid4().hex
    key = _key(endpoint_id)
    freed = _freed_key(endpoint_id)
    deadline = time.monotonic() + wait_seconds
    lease_ms = int(lease_seconds * 1000)
    while True:
        if script(keys=[key], args=[lease_ms, limit, token, 2 * lease_ms]):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SemaphoreTimeout(f"endpoint {endpoint_id}: all {limit} slots busy")
        # Sleep until a holder gives a slot back (each release wakes one waiter), or a short
        # while: a dead holder's lease expires without a word.
        client.blpop([freed], timeout=max(0.01, min(remaining, RECHECK_SECONDS)))
    try:
        yield
    finally:
        with client.pipeline(transaction=False) as pipe:
            pipe.zrem(key, token)
            pipe.lpush(freed, 1)
            pipe.ltrim(freed, 0, limit - 1)  # wake-ups nobody waited for do not pile up
            pipe.pexpire(freed, 2 * lease_ms)
            pipe.execute()


def semaphore_holders(endpoint_id: int) -> int:
    """How many live leases an endpoint has now (for the run page and tests)."""
    if not _uses_redis():
        return 0
    client = _redis()
    return int(client.zcount(_key(endpoint_id), _redis_now_ms(client), "+inf"))


@contextlib.contextmanager
def _file_slot(endpoint_id: int, limit: int, wait_seconds: float) -> Iterator[None]:
    folder = Path(settings.GRAYLAB_DATA_DIR) / "semaphores"
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    slots = list(range(limit))
    while True:
        random.shuffle(slots)
        for slot in slots:
            descriptor = os.open(
                folder / f"endpoint-{endpoint_id}-{slot}.lock", os.O_CREAT | os.O_RDWR, 0o600
            )
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)
            return
        if time.monotonic() >= deadline:
            raise SemaphoreTimeout(f"endpoint {endpoint_id}: all {limit} slots busy")
        time.sleep(0.01 + random.random() * 0.02)
