"""Sign-in limits shared by every way in: the log-in page, the admin log-in and the API token.

Every attempt counts against two keys, the account (the user name as given) and the client
address; either key over ``SIGN_IN_ATTEMPTS_PER_WINDOW`` attempts within the last
``SIGN_IN_WINDOW_SECONDS`` stops the attempt before its password is checked. The counts live in
the database (:class:`~accounts.models.SignInAttempt`), so every process and host shares them.

An attempt is written first and counted after, each statement committing on its own: two
attempts racing for the last free place both see each other, so at most the limit of them get
a password check (under contention, both may be refused instead). A right password deletes its
own attempt again, and nothing else: it never clears what other attempts left.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import SignInAttempt

KEY_LENGTH = 255


@dataclass
class SignInThrottled(Exception):
    """Too many attempts for the account or the address; ``retry_after`` is in whole seconds."""

    retry_after: int

    @property
    def message(self) -> str:
        unit = "second" if self.retry_after == 1 else "seconds"
        return f"Too many sign-in attempts. Try again in {self.retry_after} {unit}."

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class SignInTicket:
    """The rows an attempt wrote, so a right password can take them back."""

    ids: tuple[int, ...]


def sign_in_keys(*, username: str, address: str | None) -> list[str]:
    """The limit keys of an attempt: its account and, when known, its client address."""
    # Case and compatibility forms fold together: "Anna" and "ａｎｎａ" share one count.
    account = unicodedata.normalize("NFKC", username).casefold()
    keys = [f"account:{account}"]
    if address:
        keys.append(f"address:{address}")
    # PostgreSQL text holds no NUL character.
    return [key.replace("\x00", "")[:KEY_LENGTH] for key in keys]


def sign_in_attempt_begin(*, username: str, address: str | None) -> SignInTicket:
    """Count an attempt before its password is checked; raises :class:`SignInThrottled`.

    ``address`` is ``None`` only when there is no request (a sign-in from code): then the
    account limit alone applies. Runs statement by statement in autocommit on purpose (see
    the module docstring); the attempt counts as failed until :func:`sign_in_attempt_succeed`.
    """
    keys = sign_in_keys(username=username, address=address)
    limit = settings.SIGN_IN_ATTEMPTS_PER_WINDOW
    now = timezone.now()
    since = now - timedelta(seconds=settings.SIGN_IN_WINDOW_SECONDS)
    # Already full: refuse without writing, so a flood of refused attempts writes nothing.
    wait = _wait_seconds(keys, since=since, now=now, allowed=limit - 1)
    if wait:
        raise SignInThrottled(retry_after=wait)
    SignInAttempt.objects.filter(at__lte=since).delete()
    rows = SignInAttempt.objects.bulk_create([SignInAttempt(key=key, at=now) for key in keys])
    ids = tuple(row.pk for row in rows)
    if _wait_seconds(keys, since=since, now=now, allowed=limit):
        # Concurrent attempts took the last places first: this one gives its place back.
        SignInAttempt.objects.filter(pk__in=ids).delete()
        wait = _wait_seconds(keys, since=since, now=now, allowed=limit - 1)
        raise SignInThrottled(retry_after=max(wait, 1))
    return SignInTicket(ids=ids)


def sign_in_attempt_succeed(*, ticket: SignInTicket) -> None:
    """The password was right: this attempt no longer counts (others' attempts still do)."""
    SignInAttempt.objects.filter(pk__in=ticket.ids).delete()


def _wait_seconds(keys: list[str], *, since: datetime, now: datetime, allowed: int) -> int:
    """Seconds until every key holds at most ``allowed`` attempts in the window (0: now)."""
    times: dict[str, list[datetime]] = defaultdict(list)
    rows = (
        SignInAttempt.objects.filter(key__in=keys, at__gt=since)
        .order_by("at")
        .values_list("key", "at")
    )
    for key, at in rows:
        times[key].append(at)
    window = timedelta(seconds=settings.SIGN_IN_WINDOW_SECONDS)
    wait = 0.0
    for attempts in times.values():
        excess = len(attempts) - allowed
        if excess > 0:
            # The key is under the limit again once its `excess` oldest attempts have expired.
            frees_at = attempts[excess - 1] + window
            wait = max(wait, (frees_at - now).total_seconds())
    return max(math.ceil(wait), 1) if wait > 0 else 0
