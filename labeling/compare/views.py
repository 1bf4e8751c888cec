"""The Compare page of a campaign: head-to-head win rates and the Bradley–Terry ranking of its
sources, with a chart, a selector (preferences, grader version, intent, category) and CSV."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import urlencode
from django.views.decorators.vary import vary_on_headers

from accounts.permissions import role_required
from accounts.roles import Role
from policy.rubric import INTENTS
from presentation.csvsafe import rows_to_csv
from presentation.htmx import HtmxHttpRequest

from ..models import Campaign
from .figures import PREFERENCE_SOURCES, SOURCE_LABELS, grader_versions_of
from .selectors import CSV_TABLES, Selection, csv_table, report_for, selection_from

COMPARE_ROLES = (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN)


def _params(request: HttpRequest) -> dict[str, str]:
    """The query's selection; the page's one grader select sends ``grader`` as ``name:N``."""
    params = {name: request.GET.get(name, "") for name in ("source", "intent", "category")}
    grader, _, number = request.GET.get("grader", "").partition(":")
    params["grader"] = grader
    params["version"] = request.GET.get("version", "") or number
    return params


def _chart(report: dict) -> dict:
    """What static/js/compare.js draws: win rates with intervals, strengths with intervals."""
    judged = [row for row in report["head_to_head"] if row["win_rate"] is not None]
    return {
        "head_to_head": {
            "labels": [f"{row['first']} vs {row['second']}" for row in judged],
            "estimate": [row["win_rate"] for row in judged],
            "interval": [row["ci95"] if row["ci95"][0] is not None else None for row in judged],
        },
        "ranking": {
            "labels": [row["source"] for row in report["ranking"]],
            "estimate": [row["strength"] for row in report["ranking"]],
            "interval": [
                row["ci95"] if row["ci95"][0] is not None else None for row in report["ranking"]
            ],
        },
    }


@role_required(*COMPARE_ROLES)
@vary_on_headers("HX-Request")
def campaign_compare(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The page; htmx asks for its body again when the selector changes."""
    campaign = get_object_or_404(Campaign, slug=slug)
    params = _params(request)
    errors: dict[str, list[str]] = {}
    try:
        selection = selection_from(campaign, params)
    except ValidationError as error:
        errors = error.message_dict
        selection = Selection("human", None, None, None, [])
    report = report_for(campaign, selection) if not errors else None
    query = {
        "source": selection.source,
        "intent": selection.intent or "",
        "category": selection.category or "",
    }
    if selection.version is not None and selection.source != "human":
        query |= {"grader": selection.version.grader.name, "version": str(selection.version.number)}
    context = {
        "campaign": campaign,
        "report": report,
        "errors": errors,
        # In an attribute, not a json_script tag: htmx drops script tags from swapped content.
        "chart_json": json.dumps(_chart(report) if report else {}),
        "selection": selection,
        "chosen_version": (
            f"{selection.version.grader.name}:{selection.version.number}"
            if selection.version
            else ""
        ),
        "sources": [(name, SOURCE_LABELS[name]) for name in PREFERENCE_SOURCES],
        "versions": selection.versions,
        "version_options": [
            (f"{version.grader.name}:{version.number}", f"{version.grader.name} v{version.number}")
            for version in selection.versions or grader_versions_of(campaign)
        ],
        "intents": INTENTS,
        "categories": sorted(set(campaign.prompts.values_list("category_path", flat=True))),
        "csv_query": urlencode({key: value for key, value in query.items() if value != ""}),
    }
    template = "labeling/compare/compare.html"
    if request.htmx:
        template += "#compare-body"
    return render(request, template, context, status=400 if errors else 200)


@role_required(*COMPARE_ROLES)
def campaign_compare_csv(request: HttpRequest, slug: str, table: str) -> HttpResponse:
    """One table of the page as CSV (formula cells neutralised), for the same selection."""
    campaign = get_object_or_404(Campaign, slug=slug)
    if table not in CSV_TABLES:
        raise ValidationError({"table": [f"must be one of {', '.join(CSV_TABLES)}"]})
    try:
        selection = selection_from(campaign, _params(request))
    except ValidationError as error:
        body = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
        return HttpResponse(body, status=400, content_type="text/plain; charset=utf-8")
    columns, rows = csv_table(report_for(campaign, selection), table)
    response = HttpResponse(rows_to_csv(columns, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-{table}.csv"'
    return response
