"""The one table of accounts: sign-in attempts that count against the sign-in limits."""

from __future__ import annotations

from django.db import models


class SignInAttempt(models.Model):
    """One attempt counted against one limit key (an account or a client address).

    A row is written before the password is checked and deleted again when the password was
    right, so what stays are the failed attempts. Rows live in the database, so every web
    process and host shares the same counts; rows older than the window are pruned.
    """

    key = models.CharField(max_length=255)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["key", "at"], name="accounts_signin_key_at"),
            models.Index(fields=["at"], name="accounts_signin_at"),
        ]

    def __str__(self) -> str:
        return f"{self.key} at {self.at:%Y-%m-%d %H:%M:%S}"
