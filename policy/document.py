"""A policy as a plain document: validation, canonical form, file parsing and the diff.

A *document* has the shape of ``PolicyVersion.snapshot`` (categories, rubric,
severity_to_safety, levels). Import files, exports, snapshots and the working policy all use
it, so one validator answers bad input everywhere with the field and the reason. Nothing here
touches the database.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from django.conf import settings

from presentation.nesting import json_too_deep, yaml_too_deep

from .models import NAME_MAX_LENGTH, PATH_MAX_LENGTH, SLUG_MAX_LENGTH
from .rubric import LEVEL_KEYS, SEVERITY_LEVELS, Severity

DOCUMENT_FORMAT = "graylab-policy"
DOCUMENT_FORMAT_VERSION = 1
FORMATS = ("json", "yaml")
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$")
TEXT_MAX_LENGTH = 20_000
RUBRIC_MAX_LENGTH = 100_000
EXAMPLES_MAX = 50
CATEGORY_KEYS = frozenset(
    {
        "path",
        "parent",
        "slug",
        "name",
        "description",
        "guidance",
        "examples_acceptable",
        "examples_unacceptable",
        "active",
        "order",
        "uid",
    }
)
TOP_LEVEL_KEYS = frozenset(
    {
        "format",
        "format_version",
        "policy_version",
        "categories",
        "rubric",
        "severity_to_safety",
        "levels",
    }
)


class PolicyError(Exception):
    """Bad input: a list of (field, reason). Raised before anything is changed."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in self.errors))

    @classmethod
    def single(cls, field: str, reason: str) -> PolicyError:
        return cls([(field, reason)])

    def as_dict(self) -> dict[str, list[str]]:
        """``{field: [reasons]}``, the shape DRF and Django forms use for errors."""
        result: dict[str, list[str]] = {}
        for field, reason in self.errors:
            result.setdefault(field, []).append(reason)
        return result


# --- single values -------------------------------------------------------------------------


def check_slug(value: Any, field: str = "slug") -> list[tuple[str, str]]:
    if not isinstance(value, str) or not value:
        return [(field, "is required")]
    if len(value) > SLUG_MAX_LENGTH:
        return [(field, f"is longer than {SLUG_MAX_LENGTH} characters")]
    if not SLUG_PATTERN.match(value):
        return [
            (
                field,
                f"{value!r} is not a valid slug: use lower-case letters, digits, '-' and '_', "
                "starting and ending with a letter or digit",
            )
        ]
    return []


def check_name(value: Any, field: str = "name") -> list[tuple[str, str]]:
    if not isinstance(value, str) or not value.strip():
        return [(field, "must not be empty")]
    if len(value) > NAME_MAX_LENGTH:
        return [(field, f"is longer than {NAME_MAX_LENGTH} characters")]
    return []


def check_text(value: Any, field: str, max_length: int = TEXT_MAX_LENGTH) -> list[tuple[str, str]]:
    if not isinstance(value, str):
        return [(field, "must be text")]
    if len(value) > max_length:
        return [(field, f"is longer than {max_length} characters")]
    return []


def check_guidance(value: Any, field: str = "guidance") -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return [(field, "must be an object of severity level -> text")]
    errors: list[tuple[str, str]] = []
    for level, text in value.items():
        if level not in SEVERITY_LEVELS:
            errors.append(
                (f"{field}.{level}", f"unknown severity level; use {', '.join(SEVERITY_LEVELS)}")
            )
        else:
            errors += check_text(text, f"{field}.{level}")
    return errors


def check_examples(value: Any, field: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return [(field, "must be a list of texts")]
    if len(value) > EXAMPLES_MAX:
        return [(field, f"has more than {EXAMPLES_MAX} examples")]
    errors: list[tuple[str, str]] = []
    for index, text in enumerate(value):
        errors += check_text(text, f"{field}[{index}]")
        if isinstance(text, str) and not text.strip():
            errors.append((f"{field}[{index}]", "must not be empty"))
    return errors


def check_mapping(value: Any, field: str = "severity_to_safety") -> list[tuple[str, str]]:
    """Values in [0, 1] for every severity level, ``none`` = 1.0, never rising with severity."""
    if not isinstance(value, Mapping):
        return [(field, "must be an object of severity level -> number")]
    errors: list[tuple[str, str]] = []
    for key in value:
        if key not in SEVERITY_LEVELS:
            errors.append((f"{field}.{key}", "unknown severity level"))
    numbers: dict[str, float] = {}
    for level in SEVERITY_LEVELS:
        if level not in value:
            errors.append((f"{field}.{level}", "is required"))
            continue
        number = value[level]
        if isinstance(number, bool) or not isinstance(number, int | float):
            errors.append((f"{field}.{level}", "must be a number"))
            continue
        if not 0.0 <= float(number) <= 1.0:
            errors.append((f"{field}.{level}", f"{number} is outside [0, 1]"))
            continue
        numbers[level] = float(number)
    if Severity.NONE in numbers and numbers[Severity.NONE] != 1.0:
        errors.append((f"{field}.{Severity.NONE}", "must be 1.0: a compliant output is fully safe"))
    previous: tuple[str, float] | None = None
    for level in SEVERITY_LEVELS:
        if level not in numbers:
            previous = None
            continue
        if previous is not None and numbers[level] > previous[1]:
            errors.append(
                (
                    f"{field}.{level}",
                    f"{numbers[level]} is higher than {previous[0]} ({previous[1]}): "
                    "safety must not increase with severity",
                )
            )
        previous = (level, numbers[level])
    return errors


def check_levels(value: Any, field: str = "levels") -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        return [(field, "must be an object of kind -> {key: text}")]
    errors: list[tuple[str, str]] = []
    for kind, texts in value.items():
        if kind not in LEVEL_KEYS:
            errors.append((f"{field}.{kind}", f"unknown kind; use {', '.join(LEVEL_KEYS)}"))
            continue
        if not isinstance(texts, Mapping):
            errors.append((f"{field}.{kind}", "must be an object of key -> text"))
            continue
        for key, text in texts.items():
            if str(key) not in LEVEL_KEYS[kind]:
                errors.append(
                    (f"{field}.{kind}.{key}", f"unknown key; use {', '.join(LEVEL_KEYS[kind])}")
                )
            else:
                errors += check_text(text, f"{field}.{kind}.{key}")
    return errors


def normalise_mapping(value: Mapping[str, Any]) -> dict[str, float]:
    return {level: float(value[level]) for level in SEVERITY_LEVELS}


def normalise_levels(value: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    return {
        kind: {str(key): str(value[kind][key]) for key in LEVEL_KEYS[kind] if key in value[kind]}
        for kind in LEVEL_KEYS
        if kind in value
    }


def join_path(parent: str | None, slug: str) -> str:
    return f"{parent}/{slug}" if parent else slug


# --- whole documents -------------------------------------------------------------------------


def validate_document(data: Any) -> dict[str, Any]:
    """Check an import document and return it in canonical form; raise ``PolicyError``.

    Every problem is reported at once (field and reason), so a user fixes a file in one pass.
    """
    if not isinstance(data, Mapping):
        raise PolicyError.single("document", "must be an object with a 'categories' list")
    errors: list[tuple[str, str]] = []
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            errors.append((str(key), "unknown field"))
    if "format" in data and data["format"] != DOCUMENT_FORMAT:
        errors.append(("format", f"must be {DOCUMENT_FORMAT!r}"))
    if "format_version" in data and data["format_version"] != DOCUMENT_FORMAT_VERSION:
        errors.append(("format_version", f"must be {DOCUMENT_FORMAT_VERSION}"))
    categories = data.get("categories")
    if not isinstance(categories, list):
        errors.append(("categories", "is required and must be a list"))
        categories = []
    rubric = data.get("rubric", "")
    errors += check_text(rubric, "rubric", RUBRIC_MAX_LENGTH)
    mapping = data.get("severity_to_safety")
    errors += check_mapping(mapping)
    levels = data.get("levels", {})
    errors += check_levels(levels)

    rows: list[dict[str, Any]] = []
    paths: dict[str, int] = {}
    uids: dict[str, int] = {}
    for index, item in enumerate(categories):
        field = f"categories[{index}]"
        if not isinstance(item, Mapping):
            errors.append((field, "must be an object"))
            continue
        item_errors: list[tuple[str, str]] = []
        for key in item:
            if key not in CATEGORY_KEYS:
                item_errors.append((f"{field}.{key}", "unknown field"))
        slug = item.get("slug")
        item_errors += check_slug(slug, f"{field}.slug")
        item_errors += check_name(item.get("name"), f"{field}.name")
        parent = item.get("parent")
        if parent is not None and (not isinstance(parent, str) or not parent):
            item_errors.append((f"{field}.parent", "must be a category path or null"))
        description = item.get("description", "")
        item_errors += check_text(description, f"{field}.description")
        guidance = item.get("guidance", {})
        item_errors += check_guidance(guidance, f"{field}.guidance")
        acceptable = item.get("examples_acceptable", [])
        unacceptable = item.get("examples_unacceptable", [])
        item_errors += check_examples(acceptable, f"{field}.examples_acceptable")
        item_errors += check_examples(unacceptable, f"{field}.examples_unacceptable")
        active = item.get("active", True)
        if not isinstance(active, bool):
            item_errors.append((f"{field}.active", "must be true or false"))
        order = item.get("order", index)
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            item_errors.append((f"{field}.order", "must be a whole number ≥ 0"))
        uid = item.get("uid")
        if uid is not None:
            try:
                uid = str(uuid.UUID(str(uid)))
            except ValueError:
                item_errors.append((f"{field}.uid", "is not a UUID"))
        if item_errors:
            errors += item_errors
            continue
        path = join_path(parent, slug)  # type: ignore[arg-type]
        if "path" in item and item["path"] != path:
            errors.append(
                (f"{field}.path", f"{item['path']!r} does not match parent + slug ({path!r})")
            )
            continue
        if len(path) > PATH_MAX_LENGTH:
            errors.append((f"{field}.path", f"is longer than {PATH_MAX_LENGTH} characters"))
            continue
        if path in paths:
            errors.append(
                (
                    f"{field}.slug",
                    f"duplicate slug {slug!r} among the children of "
                    f"{parent or 'the top level'} (also categories[{paths[path]}])",
                )
            )
            continue
        if uid is not None:
            if uid in uids:
                errors.append((f"{field}.uid", f"duplicate uid (also categories[{uids[uid]}])"))
                continue
            uids[uid] = index
        paths[path] = index
        rows.append(
            {
                "path": path,
                "parent": parent,
                "slug": slug,
                "name": item["name"].strip(),
                "description": description,
                "guidance": {
                    level: guidance[level] for level in SEVERITY_LEVELS if level in guidance
                },
                "examples_acceptable": list(acceptable),
                "examples_unacceptable": list(unacceptable),
                "active": active,
                "order": order,
                **({"uid": uid} if uid else {}),
                "_index": index,
            }
        )
    by_path = {row["path"]: row for row in rows}
    for row in rows:
        parent = row["parent"]
        if parent is None:
            continue
        field = f"categories[{row['_index']}].parent"
        if parent not in by_path:
            errors.append((field, f"unknown parent {parent!r}: the file does not define it"))
        elif row["active"] and not by_path[parent]["active"]:
            errors.append(
                (f"categories[{row['_index']}].active", "an active category needs an active parent")
            )
    if errors:
        raise PolicyError(errors)
    for row in rows:
        del row["_index"]
    return {
        "categories": tree_order(rows),
        "rubric": rubric,
        "severity_to_safety": normalise_mapping(mapping),  # type: ignore[arg-type]
        "levels": normalise_levels(levels),
    }


def tree_order(categories: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before children; siblings by (order, slug). The canonical order of a document."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for category in categories:
        children.setdefault(category["parent"], []).append(category)
    result: list[dict[str, Any]] = []

    def visit(parent: str | None) -> None:
        for category in sorted(children.get(parent, []), key=lambda c: (c["order"], c["slug"])):
            result.append(category)
            visit(category["path"])

    visit(None)
    return result


def category_entry(category: Any) -> dict[str, Any]:
    """The snapshot form of a category row (a model instance, historical or current)."""
    return {
        "path": category.path,
        "parent": category.parent.path if category.parent_id else None,
        "slug": category.slug,
        "name": category.name,
        "description": category.description,
        "guidance": {
            level: category.guidance[level]
            for level in SEVERITY_LEVELS
            if level in (category.guidance or {})
        },
        "examples_acceptable": list(category.examples_acceptable or []),
        "examples_unacceptable": list(category.examples_unacceptable or []),
        "active": category.active,
        "order": category.order,
        "uid": str(category.uid),
    }


def build_snapshot(categories: Iterable[Any], working: Any) -> dict[str, Any]:
    """A snapshot from category rows and the working-policy row."""
    return {
        "categories": tree_order(category_entry(category) for category in categories),
        "rubric": working.rubric,
        "severity_to_safety": normalise_mapping(working.severity_to_safety),
        "levels": normalise_levels(working.levels or {}),
    }


def export_document(snapshot: Mapping[str, Any], version: int | None) -> dict[str, Any]:
    """The file form of a snapshot: a small header, then the snapshot's keys."""
    return {
        "format": DOCUMENT_FORMAT,
        "format_version": DOCUMENT_FORMAT_VERSION,
        "policy_version": version,
        "categories": [dict(category) for category in snapshot.get("categories", [])],
        "rubric": snapshot.get("rubric", ""),
        "severity_to_safety": dict(snapshot.get("severity_to_safety", {})),
        "levels": {kind: dict(texts) for kind, texts in snapshot.get("levels", {}).items()},
    }


def dump_document(document: Mapping[str, Any], file_format: str) -> str:
    """Serialise a document as JSON or YAML (stable key order, UTF-8 text)."""
    if file_format == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if file_format == "yaml":
        return yaml.safe_dump(
            dict(document), allow_unicode=True, sort_keys=False, default_flow_style=False
        )
    raise PolicyError.single("format", f"unknown format {file_format!r}; use json or yaml")


def guess_format(filename: str) -> str | None:
    lower = filename.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    return None


def parse_document(content: bytes | str, file_format: str) -> Any:
    """Parse file content as JSON or YAML; raise ``PolicyError`` naming the line on failure.

    Content over the request body limit, or nested deeper than ``JSON_MAX_DEPTH``, is refused
    before parsing (the parsers recurse once per level).
    """
    if file_format not in FORMATS:
        raise PolicyError.single("format", f"unknown format {file_format!r}; use json or yaml")
    # The request body limit also bounds a document uploaded as a file or read by a command.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and len(content) > limit:
        raise PolicyError.single("file", f"is larger than {limit} bytes")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise PolicyError.single("file", f"is not UTF-8 text (byte {error.start})") from error
    if not content.strip():
        raise PolicyError.single("file", "is empty")
    depth = settings.JSON_MAX_DEPTH
    if file_format == "json":
        too_deep = json_too_deep(content.encode("utf-8", "surrogatepass"), depth)
        if too_deep:
            raise PolicyError.single("file", too_deep.message("JSON"))
        try:
            return json.loads(content)
        except json.JSONDecodeError as error:
            raise PolicyError.single(
                "file", f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from error
    try:
        too_deep = yaml_too_deep(content, depth)
        if too_deep:
            raise PolicyError.single("file", too_deep.message("YAML"))
        return yaml.safe_load(content)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise PolicyError.single("file", f"malformed YAML{where}: {problem}") from error


# --- the diff --------------------------------------------------------------------------------


def _keyed(categories: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("uid") or f"path:{c['path']}"): c for c in categories}


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new`` (two snapshots or documents).

    Categories are matched by their stable uid (a path match where a uid is missing), so a
    renamed or moved category is reported as renamed or moved, not as removed and added.
    Descendants whose path changed only because an ancestor moved are not reported.
    """
    old_categories = list(old.get("categories", []))
    new_categories = list(new.get("categories", []))
    old_keyed = _keyed(old_categories)
    new_keyed = _keyed(new_categories)
    # Second chance for entries without a common uid: match the leftovers by path.
    old_by_path = {c["path"]: key for key, c in old_keyed.items() if key not in new_keyed}
    for key, category in list(new_keyed.items()):
        if key not in old_keyed and category["path"] in old_by_path:
            old_key = old_by_path.pop(category["path"])
            old_keyed[key] = old_keyed.pop(old_key)
    old_uid_by_path = {c["path"]: key for key, c in old_keyed.items()}
    new_uid_by_path = {c["path"]: key for key, c in new_keyed.items()}

    added: list[str] = []
    removed: list[str] = []
    moved: list[dict[str, Any]] = []
    renamed: list[dict[str, Any]] = []
    guidance_changed: list[dict[str, Any]] = []
    edited: list[dict[str, Any]] = []
    deactivated: list[str] = []
    activated: list[str] = []
    reordered: list[dict[str, Any]] = []
    for key, category in new_keyed.items():
        path = category["path"]
        if key not in old_keyed:
            added.append(path)
            continue
        before = old_keyed[key]
        old_parent = old_uid_by_path.get(before["parent"]) if before["parent"] else None
        new_parent = new_uid_by_path.get(category["parent"]) if category["parent"] else None
        if old_parent != new_parent:
            moved.append(
                {
                    "path": path,
                    "from": before["path"],
                    "to": path,
                    "from_parent": before["parent"],
                    "to_parent": category["parent"],
                }
            )
        if before["slug"] != category["slug"] or before["name"] != category["name"]:
            renamed.append(
                {
                    "path": path,
                    "from": before["path"] if before["slug"] != category["slug"] else path,
                    "to": path,
                    "from_name": before["name"],
                    "to_name": category["name"],
                    "from_slug": before["slug"],
                    "to_slug": category["slug"],
                }
            )
        old_guidance = before.get("guidance", {})
        new_guidance = category.get("guidance", {})
        levels = [
            level
            for level in SEVERITY_LEVELS
            if old_guidance.get(level, "") != new_guidance.get(level, "")
        ]
        if levels:
            guidance_changed.append({"path": path, "levels": levels})
        fields = [
            field
            for field in ("description", "examples_acceptable", "examples_unacceptable")
            if before.get(field) != category.get(field)
        ]
        if fields:
            edited.append({"path": path, "fields": fields})
        if before.get("active", True) and not category.get("active", True):
            deactivated.append(path)
        elif not before.get("active", True) and category.get("active", True):
            activated.append(path)
        if before.get("order") != category.get("order") and old_parent == new_parent:
            reordered.append(
                {"path": path, "from": before.get("order"), "to": category.get("order")}
            )
    for key, category in old_keyed.items():
        if key not in new_keyed:
            removed.append(category["path"])

    old_mapping = old.get("severity_to_safety", {})
    new_mapping = new.get("severity_to_safety", {})
    mapping_changed = {
        level: [old_mapping.get(level), new_mapping.get(level)]
        for level in SEVERITY_LEVELS
        if old_mapping.get(level) != new_mapping.get(level)
    }
    old_levels = old.get("levels", {})
    new_levels = new.get("levels", {})
    levels_changed = [
        f"{kind}.{key}"
        for kind, keys in LEVEL_KEYS.items()
        for key in keys
        if old_levels.get(kind, {}).get(key) != new_levels.get(kind, {}).get(key)
    ]
    category_changes: dict[str, list[Any]] = {
        "added": sorted(added),
        "removed": sorted(removed),
        "moved": sorted(moved, key=lambda item: item["path"]),
        "renamed": sorted(renamed, key=lambda item: item["path"]),
        "guidance_changed": sorted(guidance_changed, key=lambda item: item["path"]),
        "edited": sorted(edited, key=lambda item: item["path"]),
        "deactivated": sorted(deactivated),
        "activated": sorted(activated),
        "reordered": sorted(reordered, key=lambda item: item["path"]),
    }
    result: dict[str, Any] = {
        "categories": category_changes,
        "severity_to_safety": mapping_changed,
        "rubric_changed": old.get("rubric", "") != new.get("rubric", ""),
        "levels_changed": levels_changed,
    }
    result["is_empty"] = not (
        any(category_changes.values())
        or mapping_changed
        or result["rubric_changed"]
        or levels_changed
    )
    return result
