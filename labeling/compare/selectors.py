"""Reads of the Compare page, its CSV, the API and the command: the checked selection and the
report's rows as CSV tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from policy.rubric import INTENTS

from ..models import Campaign, GraderVersion
from .figures import PREFERENCE_SOURCES, PreferenceSource, comparison_report, grader_versions_of

CSV_TABLES = ("head-to-head", "ranking")


@dataclass(frozen=True)
class Selection:
    """What to compare: whose preferences, which grader version, which prompts."""

    source: PreferenceSource
    version: GraderVersion | None
    intent: str | None
    category: str | None
    versions: list[GraderVersion]


def selection_from(campaign: Campaign, params: Mapping[str, Any]) -> Selection:
    """The selection of a request's (or the command's) parameters ``source``, ``grader``,
    ``version``, ``intent`` and ``category``; bad values raise ``ValidationError`` naming the
    field. Without ``grader``, grader preferences come from the newest version of the first
    grader (by name) that graded the campaign's pairs."""
    errors: dict[str, list[str]] = {}
    source = params.get("source") or "human"
    if source not in PREFERENCE_SOURCES:
        errors["source"] = [f"must be one of {', '.join(PREFERENCE_SOURCES)}"]
    intent = params.get("intent") or None
    if intent is not None and intent not in INTENTS:
        errors["intent"] = [f"must be one of {', '.join(INTENTS)}"]
    category = params.get("category") or None
    if category is not None and not campaign.prompts.filter(category_path=category).exists():
        errors["category"] = [f"no prompt of this campaign has the category {category[:80]!r}"]
    versions = grader_versions_of(campaign)
    version = None
    grader = params.get("grader") or None
    number = params.get("version") or None
    if number is not None and not str(number).isdigit():
        errors["version"] = ["must be a whole number"]
        number = None
    if source != "human" and "source" not in errors:
        graded = [v for v in versions if grader is None or v.grader.name == grader]
        if grader is None and graded:
            graded = [v for v in graded if v.grader.name == graded[0].grader.name]
        if number is not None:
            graded = [v for v in graded if v.number == int(number)]
        if graded:
            version = graded[-1]
        elif grader is None and number is None:
            errors["grader"] = ["no grader has graded this campaign's pairs"]
        else:
            named = f"{grader or 'a grader'}" + (f" version {number}" if number else "")
            choices = ", ".join(f"{v.grader.name} v{v.number}" for v in versions) or "none"
            errors["grader"] = [f"{named} has graded no pair of this campaign (graded: {choices})"]
    if errors:
        raise ValidationError(errors)
    return Selection(source, version, intent, category, versions)  # type: ignore[arg-type]


def report_for(campaign: Campaign, selection: Selection, **kwargs: Any) -> dict[str, Any]:
    return comparison_report(
        campaign=campaign,
        source=selection.source,
        version=selection.version,
        intent=selection.intent,
        category=selection.category,
        **kwargs,
    )


def csv_table(report: dict[str, Any], table: str) -> tuple[list[str], list[list[Any]]]:
    """One table of a report as CSV columns and rows, each row naming the selection."""
    grader = report["grader"]
    context = [
        report["source"],
        grader["name"] if grader else "",
        grader["version"] if grader else "",
        report["intent"] or "",
        report["category"] or "",
    ]
    head = ["preferences", "grader", "grader_version", "intent", "category"]
    if table == "ranking":
        rows = [
            [*context, r["rank"], r["source"], r["strength"], *r["ci95"], r["comparisons"], ""]
            for r in report["ranking"]
        ]
        rows += [
            [*context, "", r["source"], "", "", "", "", r["reason"]] for r in report["unranked"]
        ]
        columns = ["rank", "source", "strength", "ci95_low", "ci95_high", "comparisons", "note"]
        return head + columns, rows
    columns = [
        "first",
        "second",
        "win_rate",
        "ci95_low",
        "ci95_high",
        "pairs",
        "comparisons",
        "wins",
        "ties",
        "losses",
        "note",
    ]
    rows = [
        [
            *context,
            r["first"],
            r["second"],
            r["win_rate"],
            *r["ci95"],
            r["pairs"],
            r["comparisons"],
            r["wins"],
            r["ties"],
            r["losses"],
            r["note"],
        ]
        for r in report["head_to_head"]
    ]
    return head + columns, rows
