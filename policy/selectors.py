"""Reads of the policy: versions, the working taxonomy, guidance for annotators, diffs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .defaults import DEFAULT_LEVELS, DEFAULT_RUBRIC
from .document import build_snapshot, diff_documents, export_document
from .models import (
    Category,
    PolicyChange,
    PolicyVersion,
    WorkingPolicy,
)
from .rubric import DEFAULT_SEVERITY_TO_SAFETY, SEVERITY_LEVELS
from .text_diff import text_changes


def latest_version() -> PolicyVersion:
    """The newest published version (raises ``PolicyVersion.DoesNotExist`` if none)."""
    version = PolicyVersion.objects.order_by("-number").first()
    if version is None:
        raise PolicyVersion.DoesNotExist("No policy version has been published.")
    return version


def version_by_number(number: int) -> PolicyVersion:
    """One version by its number (raises ``PolicyVersion.DoesNotExist``)."""
    return PolicyVersion.objects.select_related("published_by").get(number=number)


def version_list() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("published_by").order_by("-number")


def working_policy() -> WorkingPolicy:
    """The working rubric/mapping row (an unsaved default if it does not exist yet)."""
    working = WorkingPolicy.objects.filter(id=WorkingPolicy.SINGLETON_ID).first()
    if working is None:
        working = WorkingPolicy(
            id=WorkingPolicy.SINGLETON_ID,
            rubric=DEFAULT_RUBRIC,
            severity_to_safety=dict(DEFAULT_SEVERITY_TO_SAFETY),
            levels=DEFAULT_LEVELS,
        )
    return working


def working_categories() -> QuerySet[Category]:
    return Category.objects.select_related("parent").order_by("path")


def working_snapshot() -> dict[str, Any]:
    """The working policy in snapshot form (what publishing would freeze now)."""
    return build_snapshot(working_categories(), working_policy())


def export_for(version: int | None) -> dict[str, Any]:
    """The export document of a version, or of the working policy when ``version`` is None."""
    if version is None:
        return export_document(working_snapshot(), None)
    return export_document(version_by_number(version).snapshot, version)


def version_diff(old: int, new: int) -> dict[str, Any]:
    """The changes from version ``old`` to version ``new``."""
    return diff_documents(version_by_number(old).snapshot, version_by_number(new).snapshot)


def version_text_changes(old: int, new: int) -> list[dict[str, Any]]:
    """The texts that differ from version ``old`` to ``new``, each with its word diff."""
    return text_changes(version_by_number(old).snapshot, version_by_number(new).snapshot)


def _published_base() -> dict[str, Any]:
    try:
        return latest_version().snapshot
    except PolicyVersion.DoesNotExist:
        return {"categories": []}


def unpublished_changes() -> dict[str, Any]:
    """The changes from the latest version to the working policy."""
    return diff_documents(_published_base(), working_snapshot())


def unpublished_text_changes() -> list[dict[str, Any]]:
    """The texts the working policy changed since the latest version, with word diffs."""
    return text_changes(_published_base(), working_snapshot())


@dataclass(frozen=True)
class TreeNode:
    category: Category
    depth: int
    is_leaf: bool
    is_published: bool
    position: int
    sibling_count: int


def taxonomy_tree() -> list[TreeNode]:
    """The working taxonomy in display order (parents first, siblings by order) with depth."""
    categories = list(Category.objects.select_related("parent").all())
    children: dict[int | None, list[Category]] = {}
    for category in categories:
        children.setdefault(category.parent_id, []).append(category)
    published: set[str] = set()
    for snapshot in PolicyVersion.objects.values_list("snapshot", flat=True):
        for entry in snapshot.get("categories", []):
            published.add(str(entry.get("uid") or entry["path"]))
    nodes: list[TreeNode] = []

    def visit(parent_id: int | None, depth: int) -> None:
        siblings = sorted(children.get(parent_id, []), key=lambda c: (c.order, c.slug))
        for position, category in enumerate(siblings):
            nodes.append(
                TreeNode(
                    category=category,
                    depth=depth,
                    is_leaf=category.pk not in children,
                    is_published=str(category.uid) in published or category.path in published,
                    position=position,
                    sibling_count=len(siblings),
                )
            )
            visit(category.pk, depth + 1)

    visit(None, 0)
    return nodes


def category_history(category: Category, limit: int = 200) -> QuerySet[PolicyChange]:
    """Every recorded change of one category, newest first (follows renames and moves)."""
    return PolicyChange.objects.filter(category_uid=category.uid).select_related("user")[:limit]


def policy_history(limit: int = 50) -> QuerySet[PolicyChange]:
    """The latest changes of the whole working policy, newest first."""
    return PolicyChange.objects.select_related("user")[:limit]


def _entries_by_path(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["path"]: entry for entry in snapshot.get("categories", [])}


def category_guidance(version: PolicyVersion, path: str) -> dict[str, Any]:
    """What an annotator needs for one category of one version.

    ``{"version", "path", "found", "name", "description", "ancestors": [{"path", "name"}],
    "guidance": {level: text}, "rows": [{"level", "safety", "level_description",
    "guidance"}], "examples_acceptable", "examples_unacceptable", "levels"}``.
    Guidance a category does not set is taken from its nearest ancestor. An unknown path
    gives ``found: False`` with the level descriptions only, so a page never breaks.
    """
    snapshot = version.snapshot
    entries = _entries_by_path(snapshot)
    entry = entries.get(path)
    levels = snapshot.get("levels", {})
    mapping = version.severity_to_safety
    ancestors: list[dict[str, Any]] = []
    guidance: dict[str, str] = {}
    if entry is not None:
        guidance = dict(entry.get("guidance", {}))
        parent = entry.get("parent")
        while parent and parent in entries:
            ancestor = entries[parent]
            ancestors.insert(0, {"path": ancestor["path"], "name": ancestor["name"]})
            for level, text in ancestor.get("guidance", {}).items():
                guidance.setdefault(level, text)
            parent = ancestor.get("parent")
    severity_texts = levels.get("severity", {})
    rows = [
        {
            "level": level,
            "safety": mapping.get(level),
            "level_description": severity_texts.get(level, ""),
            "guidance": guidance.get(level, ""),
        }
        for level in SEVERITY_LEVELS
    ]
    return {
        "version": version.number,
        "path": path,
        "found": entry is not None,
        "name": entry["name"] if entry else path,
        "description": entry.get("description", "") if entry else "",
        "active": entry.get("active", True) if entry else False,
        "ancestors": ancestors,
        "guidance": guidance,
        "rows": rows,
        "examples_acceptable": list(entry.get("examples_acceptable", [])) if entry else [],
        "examples_unacceptable": list(entry.get("examples_unacceptable", [])) if entry else [],
        "levels": levels,
    }


def snapshot_tree(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """A snapshot's categories with their depth, in tree order, for read-only pages."""
    entries = snapshot.get("categories", [])
    parents = {entry.get("parent") for entry in entries}
    return [
        {**entry, "depth": entry["path"].count("/"), "is_leaf": entry["path"] not in parents}
        for entry in entries
    ]
