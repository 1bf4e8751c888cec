"""Every write to the policy: edits of the working taxonomy, publishing, importing.

Each service validates first and raises ``PolicyError`` (field, reason) before changing
anything, runs in one transaction, and records who changed what in ``PolicyChange``.
Structural edits and publishing lock the working-policy row, so they run one at a time:
a publish never sees half of a move, and two publishes never take the same number.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Value
from django.db.models.functions import Concat, Length, Substr

from .defaults import DEFAULT_LEVELS, DEFAULT_RUBRIC
from .document import (
    RUBRIC_MAX_LENGTH,
    PolicyError,
    build_snapshot,
    check_examples,
    check_guidance,
    check_levels,
    check_mapping,
    check_name,
    check_slug,
    check_text,
    diff_documents,
    join_path,
    normalise_levels,
    normalise_mapping,
    validate_document,
)
from .models import (
    PATH_MAX_LENGTH,
    Category,
    PolicyChange,
    PolicyVersion,
    WorkingPolicy,
)
from .rubric import DEFAULT_SEVERITY_TO_SAFETY, SEVERITY_LEVELS

User = AbstractBaseUser | AnonymousUser | None
Action = PolicyChange.Action


def _actor(user: User) -> Any:
    return user if user is not None and user.is_authenticated else None


def _record(
    *,
    user: User,
    action: str,
    category: Category | None = None,
    changes: Mapping[str, Any] | None = None,
    path: str = "",
) -> None:
    PolicyChange.objects.create(
        category_uid=category.uid if category is not None else None,
        path=category.path if category is not None else path,
        action=action,
        changes=dict(changes or {}),
        user=_actor(user),
    )


def _lock_working() -> WorkingPolicy:
    """The working-policy row, locked: every structural edit and publish goes one at a time."""
    working = (
        WorkingPolicy.objects.select_for_update().filter(id=WorkingPolicy.SINGLETON_ID).first()
    )
    if working is None:
        WorkingPolicy.objects.get_or_create(
            id=WorkingPolicy.SINGLETON_ID,
            defaults={
                "rubric": DEFAULT_RUBRIC,
                "severity_to_safety": dict(DEFAULT_SEVERITY_TO_SAFETY),
                "levels": DEFAULT_LEVELS,
            },
        )
        working = WorkingPolicy.objects.select_for_update().get(id=WorkingPolicy.SINGLETON_ID)
    return working


def _raise_if(errors: list[tuple[str, str]]) -> None:
    if errors:
        raise PolicyError(errors)


def _published_uids_and_paths() -> tuple[set[str], set[str]]:
    uids: set[str] = set()
    paths: set[str] = set()
    for snapshot in PolicyVersion.objects.values_list("snapshot", flat=True):
        for category in snapshot.get("categories", []):
            paths.add(category["path"])
            if category.get("uid"):
                uids.add(str(category["uid"]))
    return uids, paths


def category_is_published(category: Category) -> bool:
    """Was this category part of any published version (and so maybe in use by prompts)?"""
    uids, paths = _published_uids_and_paths()
    return str(category.uid) in uids or category.path in paths


def _check_sibling_slug(
    parent: Category | None, slug: str, exclude: Category | None = None
) -> list[tuple[str, str]]:
    siblings = Category.objects.filter(parent=parent, slug=slug)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    if siblings.exists():
        where = parent.path if parent else "the top level"
        return [("slug", f"{slug!r} is already used by a sibling under {where}")]
    return []


def _rewrite_descendant_paths(old_path: str, new_path: str) -> None:
    # One UPDATE for the whole subtree: new prefix + the rest of each path after the old prefix.
    Category.objects.filter(path__startswith=old_path + "/").update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1))
    )


def _check_subtree_fits(category: Category, new_path: str) -> list[tuple[str, str]]:
    longest = (
        Category.objects.filter(path__startswith=category.path + "/")
        .annotate(length=Length("path"))
        .aggregate(longest=Max("length"))["longest"]
    )
    longest = max(longest or 0, len(category.path))
    if longest - len(category.path) + len(new_path) > PATH_MAX_LENGTH:
        return [("slug", f"the paths below it would be longer than {PATH_MAX_LENGTH} characters")]
    return []


def category_create(
    *,
    user: User,
    parent: Category | None,
    slug: str,
    name: str,
    description: str = "",
    guidance: Mapping[str, str] | None = None,
    examples_acceptable: list[str] | None = None,
    examples_unacceptable: list[str] | None = None,
) -> Category:
    """Add a category at the end of its parent's children."""
    slug = (slug or "").strip()
    name = (name or "").strip()
    guidance = dict(guidance or {})
    examples_acceptable = list(examples_acceptable or [])
    examples_unacceptable = list(examples_unacceptable or [])
    errors = check_slug(slug) + check_name(name) + check_text(description, "description")
    errors += check_guidance(guidance)
    errors += check_examples(examples_acceptable, "examples_acceptable")
    errors += check_examples(examples_unacceptable, "examples_unacceptable")
    _raise_if(errors)
    with transaction.atomic():
        _lock_working()
        if parent is not None:
            parent = Category.objects.get(pk=parent.pk)  # fresh: its path may have changed
            if not parent.active:
                raise PolicyError.single("parent", f"{parent.path!r} is inactive")
        path = join_path(parent.path if parent else None, slug)
        errors = _check_sibling_slug(parent, slug)
        if len(path) > PATH_MAX_LENGTH:
            errors.append(("slug", f"the path would be longer than {PATH_MAX_LENGTH} characters"))
        _raise_if(errors)
        last = Category.objects.filter(parent=parent).aggregate(last=Max("order"))["last"]
        category = Category.objects.create(
            parent=parent,
            slug=slug,
            path=path,
            name=name,
            description=description,
            guidance={level: guidance[level] for level in SEVERITY_LEVELS if level in guidance},
            examples_acceptable=examples_acceptable,
            examples_unacceptable=examples_unacceptable,
            order=0 if last is None else last + 1,
        )
        _record(user=user, action=Action.CREATED, category=category, changes={"name": [None, name]})
    return category


def category_update(
    *,
    user: User,
    category: Category,
    slug: str | None = None,
    name: str | None = None,
    description: str | None = None,
    guidance: Mapping[str, str] | None = None,
    examples_acceptable: list[str] | None = None,
    examples_unacceptable: list[str] | None = None,
) -> Category:
    """Rename (name and/or slug) and edit the texts of a category; ``None`` leaves a field."""
    errors: list[tuple[str, str]] = []
    if slug is not None:
        slug = slug.strip()
        errors += check_slug(slug)
    if name is not None:
        name = name.strip()
        errors += check_name(name)
    if description is not None:
        errors += check_text(description, "description")
    if guidance is not None:
        guidance = {level: guidance[level] for level in SEVERITY_LEVELS if guidance.get(level)} | {
            key: value for key, value in guidance.items() if key not in SEVERITY_LEVELS
        }
        errors += check_guidance(guidance)
    if examples_acceptable is not None:
        errors += check_examples(examples_acceptable, "examples_acceptable")
    if examples_unacceptable is not None:
        errors += check_examples(examples_unacceptable, "examples_unacceptable")
    _raise_if(errors)
    with transaction.atomic():
        _lock_working()
        category = Category.objects.select_related("parent").get(pk=category.pk)
        changes: dict[str, list[Any]] = {}
        old_path = category.path
        if slug is not None and slug != category.slug:
            errors = _check_sibling_slug(category.parent, slug, exclude=category)
            new_path = join_path(category.parent.path if category.parent else None, slug)
            errors += _check_subtree_fits(category, new_path)
            _raise_if(errors)
            changes["slug"] = [category.slug, slug]
            changes["path"] = [old_path, new_path]
            category.slug = slug
            category.path = new_path
        for field, value in (
            ("name", name),
            ("description", description),
            ("guidance", guidance),
            ("examples_acceptable", examples_acceptable),
            ("examples_unacceptable", examples_unacceptable),
        ):
            if value is not None and getattr(category, field) != value:
                changes[field] = [getattr(category, field), value]
                setattr(category, field, value)
        if not changes:
            return category
        category.save()
        if "path" in changes:
            _rewrite_descendant_paths(old_path, category.path)
        action = Action.RENAMED if {"slug", "name"} & changes.keys() else Action.EDITED
        _record(user=user, action=action, category=category, changes=changes)
    return category


def _renumber(parent: Category | None, ordered: list[Category]) -> None:
    for index, sibling in enumerate(ordered):
        if sibling.order != index:
            Category.objects.filter(pk=sibling.pk).update(order=index)
            sibling.order = index


def category_move(
    *, user: User, category: Category, parent: Category | None, position: int | None = None
) -> Category:
    """Move a category (with its subtree) under ``parent`` (None: top level)."""
    with transaction.atomic():
        _lock_working()
        category = Category.objects.select_related("parent").get(pk=category.pk)
        if parent is not None:
            parent = Category.objects.get(pk=parent.pk)
            if parent.pk == category.pk or parent.path.startswith(category.path + "/"):
                raise PolicyError.single(
                    "parent",
                    f"{parent.path!r} is {category.path!r} itself or one of its descendants: "
                    "a category cannot move under itself",
                )
            if category.active and not parent.active:
                raise PolicyError.single("parent", f"{parent.path!r} is inactive")
        if category.parent_id == (parent.pk if parent else None):
            if position is not None:
                return category_reorder(user=user, category=category, position=position)
            return category
        new_path = join_path(parent.path if parent else None, category.slug)
        errors = _check_sibling_slug(parent, category.slug, exclude=category)
        errors += _check_subtree_fits(category, new_path)
        _raise_if(errors)
        old_parent_path = category.parent.path if category.parent else None
        old_path = category.path
        siblings = list(Category.objects.filter(parent=parent).order_by("order", "slug"))
        index = len(siblings) if position is None else max(0, min(position, len(siblings)))
        category.parent = parent
        category.path = new_path
        category.save()
        _rewrite_descendant_paths(old_path, new_path)
        siblings.insert(index, category)
        _renumber(parent, siblings)
        _record(
            user=user,
            action=Action.MOVED,
            category=category,
            changes={
                "parent": [old_parent_path, parent.path if parent else None],
                "path": [old_path, new_path],
            },
        )
    return category


def category_reorder(*, user: User, category: Category, position: int) -> Category:
    """Put a category at ``position`` (0-based) among its siblings."""
    with transaction.atomic():
        _lock_working()
        category = Category.objects.get(pk=category.pk)
        siblings = [
            sibling
            for sibling in Category.objects.filter(parent_id=category.parent_id).order_by(
                "order", "slug"
            )
            if sibling.pk != category.pk
        ]
        old_order = category.order
        position = max(0, min(position, len(siblings)))
        siblings.insert(position, category)
        _renumber(category.parent, siblings)
        if category.order != old_order:
            _record(
                user=user,
                action=Action.REORDERED,
                category=category,
                changes={"order": [old_order, category.order]},
            )
    return category


def category_set_active(*, user: User, category: Category, active: bool) -> Category:
    """Deactivate a category with its subtree, or activate one (its parent must be active)."""
    with transaction.atomic():
        _lock_working()
        category = Category.objects.select_related("parent").get(pk=category.pk)
        if active:
            if category.parent is not None and not category.parent.active:
                raise PolicyError.single(
                    "active", f"activate the parent {category.parent.path!r} first"
                )
            if not category.active:
                category.active = True
                category.save(update_fields=["active"])
                _record(
                    user=user,
                    action=Action.ACTIVATED,
                    category=category,
                    changes={"active": [False, True]},
                )
            return category
        subtree = Category.objects.filter(path__startswith=category.path + "/", active=True)
        for node in [category, *subtree.order_by("path")]:
            if node.active:
                Category.objects.filter(pk=node.pk).update(active=False)
                _record(
                    user=user,
                    action=Action.DEACTIVATED,
                    category=node,
                    changes={"active": [True, False]},
                )
        category.active = False
    return category


def category_delete(*, user: User, category: Category) -> None:
    """Delete a category that has no children and was never published.

    A published category may be in use by prompts (campaigns pin published versions), so it
    is deactivated instead, never deleted.
    """
    with transaction.atomic():
        _lock_working()
        category = Category.objects.get(pk=category.pk)
        if category.children.exists():
            raise PolicyError.single("category", "has sub-categories; delete or move them first")
        if category_is_published(category):
            raise PolicyError.single(
                "category",
                "is part of a published version and may be in use by prompts: "
                "deactivate it instead",
            )
        _record(user=user, action=Action.DELETED, category=category, changes={})
        category.delete()


def working_policy_update(
    *,
    user: User,
    rubric: str | None = None,
    severity_to_safety: Mapping[str, Any] | None = None,
    levels: Mapping[str, Any] | None = None,
) -> WorkingPolicy:
    """Edit the rubric text, the severity->safety mapping or the level descriptions."""
    errors: list[tuple[str, str]] = []
    if rubric is not None:
        errors += check_text(rubric, "rubric", RUBRIC_MAX_LENGTH)
    if severity_to_safety is not None:
        errors += check_mapping(severity_to_safety)
    if levels is not None:
        errors += check_levels(levels)
    _raise_if(errors)
    with transaction.atomic():
        working = _lock_working()
        if rubric is not None and rubric != working.rubric:
            _record(user=user, action=Action.RUBRIC, changes={"rubric": [working.rubric, rubric]})
            working.rubric = rubric
        if severity_to_safety is not None:
            mapping = normalise_mapping(severity_to_safety)
            old = normalise_mapping(working.severity_to_safety or DEFAULT_SEVERITY_TO_SAFETY)
            if mapping != old:
                _record(
                    user=user,
                    action=Action.MAPPING,
                    changes={
                        level: [old[level], mapping[level]]
                        for level in SEVERITY_LEVELS
                        if old[level] != mapping[level]
                    },
                )
                working.severity_to_safety = mapping
        if levels is not None:
            merged = normalise_levels(working.levels or {})
            for kind, texts in normalise_levels(levels).items():
                merged.setdefault(kind, {}).update(texts)
            if merged != normalise_levels(working.levels or {}):
                _record(
                    user=user,
                    action=Action.LEVELS,
                    changes={"levels": [working.levels, merged]},
                )
                working.levels = merged
        working.save()
    return working


def working_snapshot_locked() -> dict[str, Any]:
    working = _lock_working()
    return build_snapshot(Category.objects.select_related("parent").all(), working)


def policy_publish(*, user: User, notes: str = "") -> PolicyVersion:
    """Freeze the working policy as the next version number."""
    errors = check_text(notes, "notes")
    _raise_if(errors)
    with transaction.atomic():
        working = _lock_working()
        categories = list(Category.objects.select_related("parent").all())
        if not any(category.active for category in categories):
            raise PolicyError.single("categories", "there is no active category to publish")
        errors = check_mapping(working.severity_to_safety)
        _raise_if(errors)
        snapshot = build_snapshot(categories, working)
        last = PolicyVersion.objects.aggregate(last=Max("number"))["last"] or 0
        try:
            version = PolicyVersion.objects.create(
                number=last + 1,
                published_by=_actor(user),
                notes=notes,
                snapshot=snapshot,
            )
        except IntegrityError as error:  # pragma: no cover - the lock above prevents it
            raise PolicyError.single("number", "another version was published meanwhile") from error
        _record(
            user=user,
            action=Action.PUBLISHED,
            changes={"version": [last or None, version.number], "notes": [None, notes]},
        )
    return version


@dataclass(frozen=True)
class ImportResult:
    categories: int
    diff: dict[str, Any]


def policy_import(*, user: User, document: Any) -> ImportResult:
    """Replace the working taxonomy, rubric, mapping and levels with a validated document.

    Categories are matched to the existing ones by uid, then by path, so a category keeps
    its identity (and history) across an import; the rest are replaced.
    """
    clean = validate_document(document)
    with transaction.atomic():
        working = _lock_working()
        before = build_snapshot(Category.objects.select_related("parent").all(), working)
        existing = {str(category.uid): category for category in Category.objects.all()}
        uid_by_path = {category.path: uid for uid, category in existing.items()}
        for entry in clean["categories"]:
            uid = entry.get("uid")
            if not uid:
                uid = uid_by_path.get(entry["path"]) or str(uuid.uuid4())
            entry["uid"] = uid
        # Delete and recreate (children first, because parent is PROTECT); ids are internal,
        # identity lives in the uid, and history is keyed by uid.
        for category in sorted(existing.values(), key=lambda c: c.path.count("/"), reverse=True):
            category.delete()
        by_path: dict[str, Category] = {}
        for entry in clean["categories"]:  # tree order: parents first
            by_path[entry["path"]] = Category.objects.create(
                parent=by_path[entry["parent"]] if entry["parent"] else None,
                slug=entry["slug"],
                path=entry["path"],
                name=entry["name"],
                description=entry["description"],
                guidance=entry["guidance"],
                examples_acceptable=entry["examples_acceptable"],
                examples_unacceptable=entry["examples_unacceptable"],
                active=entry["active"],
                order=entry["order"],
                uid=uuid.UUID(entry["uid"]),
            )
        working.rubric = clean["rubric"]
        working.severity_to_safety = clean["severity_to_safety"]
        working.levels = clean["levels"]
        working.save()
        after = build_snapshot(Category.objects.select_related("parent").all(), working)
        diff = diff_documents(before, after)
        removed_uids = {entry["path"]: entry["uid"] for entry in before["categories"]}
        _record_import(user=user, diff=diff, by_path=by_path, removed_uids=removed_uids)
    return ImportResult(categories=len(clean["categories"]), diff=diff)


def _record_import(
    *,
    user: User,
    diff: dict[str, Any],
    by_path: dict[str, Category],
    removed_uids: dict[str, str],
) -> None:
    """One history row for the import, plus one per category it changed."""
    _record(user=user, action=Action.IMPORTED, path="", changes={"diff": diff})
    touched: dict[str, list[str]] = {}
    for kind, entries in diff["categories"].items():
        for entry in entries:
            path = entry if isinstance(entry, str) else entry["path"]
            touched.setdefault(path, []).append(kind)
    for path, kinds in sorted(touched.items()):
        category = by_path.get(path)
        if category is None:
            # Removed by the import: the row is gone, the history keeps its uid and path.
            PolicyChange.objects.create(
                category_uid=removed_uids.get(path),
                path=path,
                action=Action.IMPORTED,
                changes={"import": kinds},
                user=_actor(user),
            )
        else:
            _record(user=user, action=Action.IMPORTED, category=category, changes={"import": kinds})
