"""Quality pages: review queue and pair review, dashboards with CSV, campaign quality, gold."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import role_required
from accounts.roles import has_role
from labeling.broker import BrokerUnavailable
from labeling.models import Pair, Prompt, Review
from policy.rubric import (
    CANONICAL_SIDES,
    FIELD_LABELS,
    INTENT_FIELD,
    PREFERENCE_FIELD,
    RESPONSE_MODE_FIELD,
    RESPONSE_MODES,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    SIDE_FIELDS,
    side_field,
    value_label,
)
from presentation.csvsafe import rows_to_csv
from presentation.htmx import HtmxHttpRequest

from . import dashboards as dashboard_module
from .agreement import (
    FIELD_BY_NAME,
    FIELDS,
    agreement_breakdown,
    agreement_report,
    kappa_by_annotator,
    reduce_ratings,
)
from .bias import length_bias, position_bias
from .consensus import (
    CONSENSUS_FIELDS,
    consensus_request,
    latest_consensus,
    pending_consensus,
    rater_reliabilities,
)
from .consensus_runs import RELIABILITY_COLUMNS, annotator_reliabilities
from .forms import GoldAnswerForm, PromptCorrectionForm, ResolvedReviewFilterForm, ReviewForm
from .gold import gold_accuracy_by_annotator, pair_gold_clear, pair_gold_set
from .review import (
    open_review_request_evidence,
    open_review_requests,
    pair_for_review,
    prompt_correct,
    resolved_reviews,
    review_queue,
    review_record,
    reviewers_with_reviews,
)
from .selectors import (
    GOLD_ROLES,
    QUALITY_ROLES,
    REVIEW_ROLES,
    campaign_for_quality,
    campaigns_for_quality,
)

PAGE_AGREEMENT_REPS = 200
# κ on a handful of shared items is noise; the page leaves such annotator pairs out.
PAGE_KAPPA_MIN_ITEMS = 10


RELIABILITY_FIELD_BY_COLUMN = {column: name for name, column in RELIABILITY_COLUMNS.items()}

# Dashboard columns that hold rubric values, and the rubric field naming them.
RUBRIC_VALUE_COLUMNS = {
    "intent": INTENT_FIELD,
    "mode": RESPONSE_MODE_FIELD,
    "severity": SEVERITY_FIELD,
}


def _column_label(name: str) -> str:
    """A dashboard column as the page heads it: rubric values by their labels ("Safe-
    completion", "Unsafe · Low", "Reliability · Severity"), other names in words
    ("safe_share" → "Safe share")."""
    if name in RELIABILITY_FIELD_BY_COLUMN:
        return f"Reliability · {FIELD_LABELS[RELIABILITY_FIELD_BY_COLUMN[name]]}"
    if name in RESPONSE_MODES:
        return value_label(RESPONSE_MODE_FIELD, name)
    if name.startswith("unsafe_") and name.removeprefix("unsafe_") in SEVERITY_LEVELS:
        return f"Unsafe · {value_label(SEVERITY_FIELD, name.removeprefix('unsafe_'))}"
    if name in RUBRIC_VALUE_COLUMNS:
        return FIELD_LABELS[RUBRIC_VALUE_COLUMNS[name]]
    return name.replace("_", " ").capitalize()


def _display_cell(value: Any, column: str = "") -> dict[str, Any]:
    """How a table cell shows: text, and whether it is a number (right-aligned)."""
    if column in RUBRIC_VALUE_COLUMNS and isinstance(value, str):
        return {"text": value_label(RUBRIC_VALUE_COLUMNS[column], value), "number": False}
    if value is None:
        return {"text": "—", "number": False, "empty": True}
    if isinstance(value, bool):
        return {"text": "yes" if value else "no", "number": False}
    if isinstance(value, float):
        return {"text": f"{value:.3f}", "number": True}
    if isinstance(value, int):
        return {"text": str(value), "number": True}
    return {"text": str(value), "number": False}


@role_required(*REVIEW_ROLES)
def review_queue_view(request: HttpRequest) -> HttpResponse:
    """Pairs that need a reviewer: disagreement, failed gold, flags."""
    campaign = campaign_for_quality(request.user, request.GET.get("campaign"))
    queue = review_queue(campaign=campaign) if campaign else {"total": 0, "items": []}
    flagged = (
        [row for row in gold_accuracy_by_annotator(campaign=campaign) if row["flagged"]]
        if campaign
        else []
    )
    if campaign is not None and flagged:
        consensus_at, reliabilities = annotator_reliabilities(campaign=campaign)
        for row in flagged:
            found = reliabilities.get(row["annotator"], {})
            row["reliability"] = [
                (FIELD_LABELS[name], found[name]) for name in CONSENSUS_FIELDS if name in found
            ]
            row["reliability_at"] = consensus_at
    return render(
        request,
        "labeling/quality/review_queue.html",
        {
            "campaign": campaign,
            "campaigns": campaigns_for_quality(request.user),
            "queue": queue,
            "flagged_annotators": flagged,
            "can_see_queue": True,
        },
    )


def _pair_or_404(pair_id: int) -> Pair:
    try:
        return pair_for_review(pair_id=pair_id)
    except Pair.DoesNotExist as error:
        raise Http404("No such pair.") from error


def _consensus_initial(pair: Pair) -> dict[str, Any]:
    """A starting point for the reviewer: the judgments' most common mode and lower-median
    severity, helpfulness and preference per side."""
    initial: dict[str, Any] = {"resolution": Review.Resolution.LABELS}
    judgments = list(pair.judgments.all())
    if not judgments:
        return initial
    for side in CANONICAL_SIDES:
        for field in SIDE_FIELDS:
            column = side_field(side, field)
            values = [getattr(judgment, column) for judgment in judgments]
            initial[column] = reduce_ratings(FIELD_BY_NAME[field], values)
    initial[PREFERENCE_FIELD] = reduce_ratings(
        FIELD_BY_NAME[PREFERENCE_FIELD], [judgment.preference for judgment in judgments]
    )
    return initial


def _review_initial(pair: Pair) -> dict[str, Any]:
    review = getattr(pair, "review", None)
    if review is None:
        return _consensus_initial(pair)
    initial: dict[str, Any] = {"resolution": review.resolution, "notes": review.notes}
    labels = review.final_labels or {}
    for side in CANONICAL_SIDES:
        for key, value in (labels.get(side) or {}).items():
            initial[f"{side}_{key}"] = value
    if PREFERENCE_FIELD in labels:
        initial[PREFERENCE_FIELD] = labels[PREFERENCE_FIELD]
    return initial


@role_required(*QUALITY_ROLES)
@require_http_methods(["GET", "POST"])
def review_pair_view(request: HttpRequest, pair_id: int) -> HttpResponse:
    """All judgments of a pair side by side, and the reviewer's resolution (researchers see
    the pair and its resolution; reviewers and admins record it)."""
    can_review = has_role(request.user, *REVIEW_ROLES)
    if request.method == "POST" and not can_review:
        raise PermissionDenied
    pair = _pair_or_404(pair_id)
    form = ReviewForm(request.POST or None, initial=_review_initial(pair))
    if request.method == "POST" and form.is_valid():
        try:
            review_record(
                pair=pair,
                reviewer=request.user,
                resolution=form.cleaned_data["resolution"],
                final_labels=form.final_labels(),
                notes=form.cleaned_data["notes"],
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, f"Pair {pair.pk} resolved.")
            url = reverse("labeling:review_queue") + f"?campaign={pair.prompt.campaign.slug}"
            return redirect(url)
    categories = pair.prompt.campaign.policy_version.leaf_paths()
    correction = PromptCorrectionForm(
        categories=categories,
        initial={"category_path": pair.prompt.category_path, "intent": pair.prompt.intent},
    )
    return render(
        request,
        "labeling/quality/review_pair.html",
        {
            "pair": pair,
            "judgments": list(pair.judgments.all()),
            "form": form,
            "correction": correction,
            "changes": pair.prompt.changes.select_related("changed_by")[:20],
            "requested": open_review_requests(campaign=None, pair_ids=[pair.pk]).get(pair.pk, []),
            "label_error_evidence": open_review_request_evidence(pair_id=pair.pk),
            "can_review": can_review,
        },
        status=400 if request.method == "POST" else 200,
    )


RESOLVED_PAGE_SIZE = 50


@role_required(*QUALITY_ROLES)
@require_GET
def resolved_reviews_view(request: HttpRequest) -> HttpResponse:
    """Resolved reviews, newest first, by campaign, reviewer, outcome and date."""
    campaigns = list(campaigns_for_quality(request.user))
    form = ResolvedReviewFilterForm(
        request.GET or None, campaigns=campaigns, reviewers=reviewers_with_reviews()
    )
    filters = form.cleaned_data if form.is_valid() else {}
    by_slug = {campaign.slug: campaign for campaign in campaigns}
    reviews = resolved_reviews(
        campaign=by_slug.get(filters.get("campaign") or ""),
        reviewer_id=filters.get("reviewer"),
        resolution=filters.get("resolution") or None,
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(reviews, RESOLVED_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "labeling/quality/resolved_reviews.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_see_queue": has_role(request.user, *REVIEW_ROLES),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@role_required(*REVIEW_ROLES)
@require_POST
def prompt_correct_view(request: HttpRequest, prompt_id: int) -> HttpResponse:
    """Correct a prompt's category or intent (kept in its history)."""
    prompt = get_object_or_404(
        Prompt.objects.select_related("campaign__policy_version"), pk=prompt_id
    )
    form = PromptCorrectionForm(
        request.POST, categories=prompt.campaign.policy_version.leaf_paths()
    )
    back = request.POST.get("pair")
    target = (
        reverse("labeling:review_pair", args=[int(back)])
        if back and back.isdigit()
        else reverse("labeling:review_queue")
    )
    if not form.is_valid():
        messages.error(
            request,
            "Correction not saved: "
            + "; ".join(
                f"{field}: {' '.join(str(e) for e in errors)}"
                for field, errors in form.errors.items()
            ),
        )
        return redirect(target)
    try:
        changes = prompt_correct(
            prompt=prompt,
            changed_by=request.user,
            category_path=form.cleaned_data["category_path"],
            intent=form.cleaned_data["intent"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        messages.error(request, "Correction not saved: " + " ".join(error.messages))
    else:
        messages.success(request, f"{len(changes)} change(s) saved to the prompt.")
    return redirect(target)


@role_required(*QUALITY_ROLES)
@require_GET
def dashboards_view(request: HtmxHttpRequest) -> HttpResponse:
    """One dashboard of a campaign: tables, charts and CSV links, computed now."""
    campaign = campaign_for_quality(request.user, request.GET.get("campaign"))
    slug = request.GET.get("view", "safety")
    if slug not in dashboard_module.DASHBOARD_BY_SLUG:
        raise Http404("No such dashboard.")
    dashboard = dashboard_module.DASHBOARD_BY_SLUG[slug]
    figures = None
    tables: list[dict[str, Any]] = []
    if campaign is not None:
        figures = dashboard_module.dashboard_figures(campaign=campaign, dashboard=slug)
        for name, title in dashboard.tables:
            entry = figures["tables"][name]
            tables.append(
                {
                    "name": name,
                    "title": title,
                    "columns": [_column_label(column) for column in entry["columns"]],
                    "rows": [
                        [_display_cell(value, column) for column, value in row.items()]
                        for row in entry["rows"]
                    ],
                }
            )
    context = {
        "campaign": campaign,
        "campaigns": campaigns_for_quality(request.user),
        "dashboards": dashboard_module.DASHBOARDS,
        "dashboard": dashboard,
        "figures": figures,
        "tables": tables,
        "charts": figures["charts"] if figures else [],
    }
    template = "labeling/quality/dashboards.html"
    if request.htmx:
        template += "#dashboard-body"
    return render(request, template, context)


@role_required(*QUALITY_ROLES)
def dashboard_csv_view(request: HttpRequest, table: str) -> HttpResponse:
    """A dashboard table as CSV (formula cells neutralised), the numbers of the page."""
    if table not in dashboard_module.TABLE_FUNCTIONS:
        raise Http404("No such table.")
    campaign = campaign_for_quality(request.user, request.GET.get("campaign"))
    if campaign is None:
        raise Http404("No campaign yet.")
    columns, rows = dashboard_module.dashboard_table_rows(campaign=campaign, table=table)
    body = rows_to_csv(columns, [[row.get(column) for column in columns] for row in rows])
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-{table}.csv"'
    return response


@role_required(*QUALITY_ROLES)
def campaign_quality_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Agreement (α with CI, κ), bias checks and gold accuracy of one campaign."""
    campaign = campaign_for_quality(request.user, slug)
    assert campaign is not None  # a slug was given: unknown ones raised 404
    jump = request.GET.get("pair", "")
    if jump.isdigit():
        return redirect("labeling:gold_pair", pair_id=int(jump))
    report = agreement_report(
        campaign=campaign, reps=PAGE_AGREEMENT_REPS, kappa_min_items=PAGE_KAPPA_MIN_ITEMS
    )
    per_annotator = kappa_by_annotator(report["kappa"])
    consensus = latest_consensus(campaign)
    return render(
        request,
        "labeling/quality/campaign_quality.html",
        {
            "campaign": campaign,
            "fields": [(spec, report[spec.name]) for spec in FIELDS],
            "kappa": report["kappa"],
            "kappa_by_annotator": sorted(per_annotator.items()),
            "by_category": agreement_breakdown(campaign=campaign, by="category"),
            "by_intent": agreement_breakdown(campaign=campaign, by="intent"),
            "field_names": [spec.name for spec in FIELDS],
            "position": position_bias(campaign=campaign),
            "length": length_bias(campaign=campaign),
            "gold": gold_accuracy_by_annotator(campaign=campaign),
            "reps": PAGE_AGREEMENT_REPS,
            "consensus": consensus,
            "consensus_fields": [
                (name, (consensus.summary.get(name) or {}) if consensus else {})
                for name in CONSENSUS_FIELDS
            ],
            "consensus_raters": sorted(rater_reliabilities(consensus).items()),
            "consensus_pending": pending_consensus(campaign),
            "may_compute_consensus": has_role(request.user, *GOLD_ROLES),
        },
    )


@role_required(*GOLD_ROLES)
@require_POST
def consensus_compute_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Compute the campaign's consensus now (small campaign) or ask a worker for it."""
    campaign = campaign_for_quality(request.user, slug)
    assert campaign is not None
    try:
        run = consensus_request(campaign=campaign, user=request.user)
    except BrokerUnavailable as error:
        messages.error(request, error.message)
        return redirect(reverse("labeling:campaign_quality", args=[campaign.slug]) + "#consensus")
    if run.status == run.Status.DONE:
        messages.success(request, "Consensus computed.")
    elif run.status == run.Status.FAILED:
        messages.error(request, f"Consensus failed: {run.error}")
    else:
        messages.info(request, "Consensus requested: a worker is computing it.")
    return redirect(reverse("labeling:campaign_quality", args=[campaign.slug]) + "#consensus")


@role_required(*GOLD_ROLES)
@require_http_methods(["GET", "POST"])
def gold_pair_view(request: HttpRequest, pair_id: int) -> HttpResponse:
    """Mark a pair as gold with its expected answer, or stop using it as gold."""
    pair = _pair_or_404(pair_id)
    form = GoldAnswerForm(
        request.POST or None, initial=GoldAnswerForm.initial_from(pair.gold_answer)
    )
    if request.method == "POST":
        if request.POST.get("action") == "clear":
            pair_gold_clear(pair=pair)
            messages.success(request, f"Pair {pair.pk} is no longer gold.")
            return redirect("labeling:gold_pair", pair_id=pair.pk)
        if form.is_valid():
            try:
                pair_gold_set(pair=pair, answer=form.answer())
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, f"Pair {pair.pk} is gold.")
                return redirect("labeling:gold_pair", pair_id=pair.pk)
    return render(
        request,
        "labeling/quality/gold_pair.html",
        {"pair": pair, "form": form},
        status=400 if request.method == "POST" else 200,
    )
