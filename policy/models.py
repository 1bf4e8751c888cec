"""The policy taxonomy (editable working copy) and its published, immutable versions."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .rubric import DEFAULT_SEVERITY_TO_SAFETY

SLUG_MAX_LENGTH = 64
NAME_MAX_LENGTH = 120
PATH_MAX_LENGTH = 255


class Category(models.Model):
    """A node of the working taxonomy. Leaves are what prompts are filed under."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.PROTECT
    )
    slug = models.SlugField(max_length=64)
    path = models.CharField(max_length=255, unique=True, help_text="e.g. biology/weaponization")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    guidance = models.JSONField(
        default=dict, blank=True, help_text="severity level -> guidance text"
    )
    examples_acceptable = models.JSONField(default=list, blank=True)
    examples_unacceptable = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0)
    # A stable identity that survives renames, moves and imports, so history and the diff
    # between versions can follow one category even when its path changes.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ("path",)
        constraints = [
            models.UniqueConstraint(fields=("parent", "slug"), name="category_unique_slug"),
            models.UniqueConstraint(
                fields=("slug",),
                condition=models.Q(parent__isnull=True),
                name="category_unique_root_slug",
            ),
        ]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.path


class PolicyVersionQuerySet(models.QuerySet["PolicyVersion"]):
    """Bulk writes would bypass ``PolicyVersion.save``; a published version never changes."""

    def update(self, **kwargs: Any) -> int:
        raise ValidationError("A published policy version can never change.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ValidationError("A published policy version can never be deleted.")


class PolicyVersion(models.Model):
    """A published, frozen copy of the taxonomy, rubric text and severity->safety mapping."""

    number = models.PositiveIntegerField(unique=True)
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    notes = models.TextField(blank=True)
    snapshot = models.JSONField(
        help_text="{'categories': [...], 'rubric': str, 'severity_to_safety': {...}}"
    )

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ("-number",)

    def __str__(self) -> str:
        return f"v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and PolicyVersion.objects.filter(pk=self.pk).exists():
            raise ValidationError("A published policy version can never change.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError("A published policy version can never be deleted.")

    @property
    def severity_to_safety(self) -> dict[str, float]:
        return dict(self.snapshot.get("severity_to_safety", DEFAULT_SEVERITY_TO_SAFETY))

    @property
    def rubric(self) -> str:
        return str(self.snapshot.get("rubric", ""))

    @property
    def levels(self) -> dict[str, Any]:
        return dict(self.snapshot.get("levels", {}))

    def leaf_paths(self) -> list[str]:
        """Paths of the active leaf categories in this version."""
        categories = self.snapshot.get("categories", [])
        parents = {c.get("parent") for c in categories}
        return sorted(
            c["path"] for c in categories if c.get("active", True) and c["path"] not in parents
        )


class WorkingPolicy(models.Model):
    """The editable rubric text, level descriptions and severity->safety mapping (one row).

    Publishing copies this row and the working categories into a new ``PolicyVersion``.
    """

    SINGLETON_ID = 1

    rubric = models.TextField(blank=True, help_text="Markdown shown to annotators")
    severity_to_safety = models.JSONField(default=dict)
    levels = models.JSONField(
        default=dict,
        help_text="{'severity': {level: text}, 'helpfulness': {'1'..'4': text}, "
        "'response_mode': {mode: text}, 'intent': {intent: text}}",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "working policy"
        verbose_name_plural = "working policy"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="working_policy_singleton")
        ]

    def __str__(self) -> str:
        return "Working policy"


class PolicyChange(models.Model):
    """One edit of the working policy: who changed what, and when."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        RENAMED = "renamed", "Renamed"
        MOVED = "moved", "Moved"
        REORDERED = "reordered", "Reordered"
        EDITED = "edited", "Edited"
        DEACTIVATED = "deactivated", "Deactivated"
        ACTIVATED = "activated", "Activated"
        DELETED = "deleted", "Deleted"
        IMPORTED = "imported", "Imported"
        MAPPING = "mapping", "Severity→safety mapping changed"
        RUBRIC = "rubric", "Rubric text changed"
        LEVELS = "levels", "Level descriptions changed"
        PUBLISHED = "published", "Published"

    # No foreign key: history outlives deletions and imports; the uid follows one category.
    category_uid = models.UUIDField(null=True, blank=True, db_index=True)
    path = models.CharField(max_length=PATH_MAX_LENGTH, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    changes = models.JSONField(default=dict, blank=True, help_text="field -> [old, new]")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.action} {self.path}".strip()
