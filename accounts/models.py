"""The tables of accounts: sign-in attempts that count against the sign-in limits, and the
audit log of what admins changed on each account."""

from __future__ import annotations

from django.conf import settings
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


class UserChange(models.Model):
    """One change an admin made to an account: who changed what, and when.

    ``changes`` maps a field to ``[old, new]`` as readable text (role names, campaign names,
    "active"/"inactive"); a password change records only that it happened, never a value.
    """

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        EDITED = "edited", "Details changed"
        ROLES = "roles", "Roles changed"
        MEMBERSHIPS = "memberships", "Memberships changed"
        DEACTIVATED = "deactivated", "Deactivated"
        REACTIVATED = "reactivated", "Reactivated"
        PASSWORD = "password", "Password reset"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [old, new]")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_change_user_at")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.user_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"
