"""The policy taxonomy (editable working copy) and its published, immutable versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

SEVERITY_LEVELS: tuple[str, ...] = ("none", "negligible", "low", "moderate", "high")
DEFAULT_SEVERITY_TO_SAFETY: dict[str, float] = {
    "none": 1.0,
    "negligible": 0.8,
    "low": 0.5,
    "moderate": 0.2,
    "high": 0.0,
}
INTENTS: tuple[str, ...] = ("benign", "dual_use", "malicious")


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

    def leaf_paths(self) -> list[str]:
        """Paths of the active leaf categories in this version."""
        categories = self.snapshot.get("categories", [])
        parents = {c.get("parent") for c in categories}
        return sorted(
            c["path"] for c in categories if c.get("active", True) and c["path"] not in parents
        )
