"""Pages of the data browser: the tables with their filters, bulk actions, a pair's view."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import role_required
from accounts.roles import has_role
from labeling.models import Campaign, Pair
from labeling.quality.review import open_review_requests, pair_for_review
from labeling.quality.selectors import (
    GOLD_ROLES,
    QUALITY_ROLES,
    REVIEW_ROLES,
    campaign_for_quality,
    campaigns_for_quality,
)
from policy.rubric import Intent
from presentation.htmx import HtmxHttpRequest

from .candidate_values import candidate_filters, candidate_values_check
from .highlight import highlighted_snippet
from .selectors import (
    AGREEMENT_CHOICES,
    EXCLUDED_CHOICES,
    FLAG_CHOICES,
    GOLD_CHOICES,
    PAGE_SIZES,
    REVIEW_CHOICES,
    SORT_LABELS,
    SORTS,
    TABLE_FILTERS,
    TABLES,
    BrowserQuery,
    page_of,
    page_rows_loaded,
    prompt_text,
    query_parse,
    rows_matching,
    search_words,
)
from .services import ACTIONS, actions_for, pairs_bulk_apply, selection_resolve


@role_required(*QUALITY_ROLES)
@require_GET
def browser_home_view(request: HtmxHttpRequest) -> HttpResponse:
    """The browser of the campaign named by ``?campaign=``, else of the newest one."""
    campaign = campaign_for_quality(request.user, request.GET.get("campaign"))
    if campaign is None:
        return render(request, "labeling/browser/browser.html", {"campaign": None})
    return redirect("labeling:browser", slug=campaign.slug)


def _row_view(row: Any, query: BrowserQuery, words: list[str]) -> dict[str, Any]:
    """What a table row shows; every text of a prompt or a completion is an escaped snippet."""
    if query.table == "prompts":
        return {"obj": row, "snippet": highlighted_snippet(prompt_text(row), words)}
    if query.table == "candidates":
        return {
            "obj": row,
            "prompt": highlighted_snippet(prompt_text(row.prompt), words),
            "snippet": highlighted_snippet(row.text, words),
        }
    pair = row if query.table == "pairs" else row.pair
    view = {
        "obj": row,
        "pair": pair,
        "prompt": highlighted_snippet(prompt_text(pair.prompt), words),
    }
    if query.table == "pairs":
        view["a"] = highlighted_snippet(pair.candidate_a.text, words)
        view["b"] = highlighted_snippet(pair.candidate_b.text, words)
    return view


def _browser_context(request: HtmxHttpRequest, campaign: Campaign) -> tuple[dict[str, Any], int]:
    errors: dict[str, list[str]] = {}
    try:
        query = query_parse(request.GET)
        candidate_values_check(campaign, query)
    except ValidationError as error:
        errors = error.message_dict
        table = request.GET.get("table", "pairs")
        query = BrowserQuery(table=table if table in TABLES else "pairs")
    page = page_of(rows_matching(campaign, query), query)
    page_rows_loaded(page, query)
    words = search_words(query.q)
    context = {
        "campaign": campaign,
        "campaigns": campaigns_for_quality(request.user),
        "query": query,
        "errors": errors,
        "page": page,
        "rows": [_row_view(row, query, words) for row in page.rows],
        "tables": TABLES,
        "noun": query.table.removesuffix("s"),
        "filters": TABLE_FILTERS[query.table],
        "sorts": [(name, SORT_LABELS[name]) for name in SORTS[query.table]],
        "page_sizes": PAGE_SIZES,
        "intents": Intent.choices,
        "choice_filters": [
            (name, label, options, getattr(query, name))
            for name, label, options in (
                ("agreement", "Agreement", AGREEMENT_CHOICES),
                ("flag", "Flags", FLAG_CHOICES),
                ("gold", "Gold", GOLD_CHOICES),
                ("review", "Review state", REVIEW_CHOICES),
                ("excluded", "Exports", EXCLUDED_CHOICES),
            )
        ],
        "candidate_filters": candidate_filters(campaign, query)
        if "source" in TABLE_FILTERS[query.table]
        else [],
        "actions": actions_for(request.user) if query.table == "pairs" else {},
        "categories": campaign.policy_version.leaf_paths(),
        "can_review": has_role(request.user, *REVIEW_ROLES),
    }
    return context, 400 if errors else 200


@role_required(*QUALITY_ROLES)
@require_GET
def browser_view(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """One table of a campaign with its search, filters, sort and page (all in the URL)."""
    campaign = campaign_for_quality(request.user, slug)
    assert campaign is not None  # a slug was given: unknown ones raised 404
    context, status = _browser_context(request, campaign)
    template = "labeling/browser/browser.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context, status=status)


@role_required(*QUALITY_ROLES)
@require_POST
def browser_bulk_view(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A bulk action on the selected pairs: first what it will touch (to confirm), then what
    it did, pair counts done and skipped with the reasons."""
    campaign = campaign_for_quality(request.user, slug)
    assert campaign is not None
    action = request.POST.get("action", "")
    context: dict[str, Any] = {
        "campaign": campaign,
        "action": action,
        "action_label": ACTIONS[action][0] if action in ACTIONS else action,
        "filters": request.POST.get("filters", ""),
        "all_matching": request.POST.get("all_matching") == "1",
        "errors": [],
    }
    status = 200
    try:
        if action not in ACTIONS:
            raise ValidationError({"action": [f"choose one of {', '.join(ACTIONS)}"]})
        if action not in actions_for(request.user):
            raise PermissionDenied
        if context["all_matching"]:
            query = query_parse(_query_dict(context["filters"]))
            candidate_values_check(campaign, query)
            pair_ids = selection_resolve(campaign=campaign, query=query)
        else:
            pair_ids = selection_resolve(campaign=campaign, pair_ids=request.POST.getlist("pair"))
        context["pair_ids"] = pair_ids
        if request.POST.get("confirm") == "1":
            context["outcome"] = pairs_bulk_apply(
                action=action, pair_ids=pair_ids, user=request.user
            )
    except ValidationError as error:
        context["errors"] = [
            f"{field}: {' '.join(reasons)}" for field, reasons in error.message_dict.items()
        ]
        status = 400
    template = "labeling/browser/_bulk_panel.html"
    response = render(request, template, context, status=status)
    if "outcome" in context:
        response["HX-Trigger"] = "browser-refresh"
    return response


def _query_dict(text: str) -> dict[str, str]:
    return dict(parse_qsl(text))


@role_required(*QUALITY_ROLES)
@require_GET
def browser_pair_view(request: HtmxHttpRequest, pair_id: int) -> HttpResponse:
    """A pair side by side with every judgment (the review page's rendering), read-only."""
    try:
        pair = pair_for_review(pair_id=pair_id)
    except Pair.DoesNotExist as error:
        raise Http404("No such pair.") from error
    return render(
        request,
        "labeling/browser/pair.html",
        {
            "pair": pair,
            "judgments": list(pair.judgments.all()),
            "requested": open_review_requests(campaign=None, pair_ids=[pair.pk]).get(pair.pk, []),
            "excluded": hasattr(pair, "export_exclusion"),
            "can_review": has_role(request.user, *REVIEW_ROLES),
            "can_gold": has_role(request.user, *GOLD_ROLES),
        },
    )
