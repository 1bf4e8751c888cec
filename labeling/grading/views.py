"""Pages of graders (researchers and admins): list, create, edit with version history, preview,
and grading runs (start one from the grader's page, follow it on its own page)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import role_required
from accounts.roles import Role, has_role
from labeling.quality.agreement import FIELDS
from labeling.quality.selectors import REVIEW_ROLES
from policy.models import PolicyVersion
from policy.rubric import PREFERENCE_FIELD
from presentation.htmx import HtmxHttpRequest

from ..broker import BROKER_ERRORS, BrokerUnavailable
from ..models import CalibrationSnapshot, Campaign, GradingRun
from . import calibration, impact, regrade, runs, services
from . import selectors as grading_selectors
from .forms import GraderForm, GradingRunForm, PreviewCampaignForm, PreviewForm, RegradeForm
from .preview import grader_preview
from .templates import CANDIDATE, GradingItemError

RESEARCH = (Role.RESEARCHER, Role.ADMIN)
# Calibration is read by those who decide whether to trust a grader and those who fix labels.
CALIBRATION_ROLES = (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN)
FIELD_NAMES = [spec.name for spec in FIELDS]
FIELD_LABELS = {name: name.replace("_", " ").capitalize() for name in FIELD_NAMES}


def _settings(data: dict[str, Any]) -> dict[str, Any]:
    """The version settings of a valid form (a blank model means the endpoint's)."""
    settings = {name: data[name] for name in services.VERSION_FIELDS if name in data}
    settings["model"] = (data.get("model") or "").strip() or data["endpoint"].model
    return settings


@role_required(*RESEARCH)
def grader_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "labeling/grading/graders.html", {"graders": grading_selectors.grader_list()}
    )


@role_required(*RESEARCH)
def grader_create(request: HttpRequest) -> HttpResponse:
    form = GraderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.grader_create(
                name=data["name"],
                description=data["description"],
                created_by=request.user,
                **_settings(data),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Grader {version.grader.name} created (version 1).")
            return redirect("labeling:grader_detail", name=version.grader.name)
    return render(request, "labeling/grading/grader_form.html", {"form": form})


@role_required(*RESEARCH)
def grader_detail(request: HttpRequest, name: str) -> HttpResponse:
    """The grader's settings as an editable form, and its versions."""
    grader = grading_selectors.grader_get(name=name)
    current = grading_selectors.grader_current_version(grader=grader)
    form = GraderForm(request.POST or None, version=current)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            update = services.grader_update(
                grader=grader,
                changes={"description": data["description"], **_settings(data)},
                user=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if update.is_new_version:
                messages.success(
                    request,
                    f"Saved as version {update.version.number}: version {current.number} has "
                    "graded items, so it stays as it was.",
                )
            else:
                messages.success(request, f"Version {update.version.number} saved.")
            return redirect("labeling:grader_detail", name=grader.name)
    return _grader_page(request, grader, current=current, form=form)


def _grader_page(
    request: HttpRequest,
    grader: Any,
    *,
    current: Any,
    form: GraderForm,
    run_form: GradingRunForm | None = None,
    regrade_form: RegradeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The grader's page: its settings form, its versions, its grading runs, and re-grading
    under a newer policy version with the impact reports of earlier re-grades."""
    newer = _newer_policy_versions(current)
    return render(
        request,
        "labeling/grading/grader_detail.html",
        {
            "grader": grader,
            "current": current,
            "form": form,
            "versions": grading_selectors.grader_versions(grader=grader),
            "run_form": run_form or GradingRunForm(),
            "grading_runs": grading_selectors.grading_run_list(grader=grader)[:20],
            "regrade_form": regrade_form or (RegradeForm(newer=newer) if newer else None),
            "regrades": regrade.regrade_pairs(version=current),
        },
        status=status,
    )


def _newer_policy_versions(version: Any) -> list[PolicyVersion]:
    """The published policy versions newer than the one ``version`` applies, newest first."""
    return list(
        PolicyVersion.objects.filter(number__gt=version.policy_version.number).order_by("-number")
    )


@role_required(*RESEARCH)
def grader_preview_page(request: HttpRequest, name: str) -> HttpResponse:
    """Pick an item (from a campaign's first candidates and pairs, or by id) to preview."""
    grader = grading_selectors.grader_get(name=name)
    campaign_form = PreviewCampaignForm(request.GET or None)
    campaign = campaign_form.cleaned_data["campaign"] if campaign_form.is_valid() else None
    context: dict[str, Any] = {
        "grader": grader,
        "current": grading_selectors.grader_current_version(grader=grader),
        "campaign_form": campaign_form,
        "campaign": campaign,
        "form": PreviewForm(initial={"kind": CANDIDATE}),
    }
    if campaign is not None:
        context["candidates"] = grading_selectors.preview_candidates(campaign=campaign)
        context["pairs"] = grading_selectors.preview_pairs(campaign=campaign)
    return render(request, "labeling/grading/preview.html", context)


@require_POST
@role_required(*RESEARCH)
def grader_preview_run(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Grade the chosen item now and show the prompt, the raw answers and the grade."""
    grader = grading_selectors.grader_get(name=name)
    form = PreviewForm(request.POST)
    context: dict[str, Any] = {"grader": grader, "form": form}
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        version = (
            grading_selectors.grader_version_get(grader=grader, number=data["version"])
            if data["version"]
            else grading_selectors.grader_current_version(grader=grader)
        )
        try:
            if data["kind"] == CANDIDATE:
                item = grading_selectors.candidate_for_grading(candidate_id=data["item_id"])
                context["preview"] = grader_preview(version, candidate=item)
            else:
                pair = grading_selectors.pair_for_grading(pair_id=data["item_id"])
                context["preview"] = grader_preview(version, pair=pair)
        except GradingItemError as error:
            context["item_error"] = error.message
            status = 400
    else:
        status = 400
    template = "labeling/grading/preview.html"
    if request.htmx:
        template += "#preview_result"
    else:
        context["current"] = grading_selectors.grader_current_version(grader=grader)
        context["campaign_form"] = PreviewCampaignForm()
    return render(request, template, context, status=status)


# Disagreeing items shown per field on the page (the API and the command give up to 100).
PAGE_DISAGREEMENTS = 20


def _figure_cells(figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "alpha": figures[name]["alpha"],
            "ci95": figures[name]["ci95"],
            "kappa": figures[name]["kappa"],
            "items": figures[name]["items"],
            "human_alpha": figures[name]["human_alpha"],
        }
        for name in FIELD_NAMES
    ]


def _disagreements(figures: dict[str, Any], first_pairs: dict[str, int]) -> list[dict[str, Any]]:
    """Each field's first disagreeing items, each with the pair to open (a candidate's first)."""
    return [
        {
            "field": name,
            "label": FIELD_LABELS[name],
            "count": figures[name]["disagreement_count"],
            "rows": [
                {
                    **row,
                    "pair": row["unit"]
                    if name == PREFERENCE_FIELD
                    else first_pairs.get(str(row["unit"])),
                    "kind": "pair" if name == PREFERENCE_FIELD else "candidate",
                }
                for row in figures[name]["disagreements"][:PAGE_DISAGREEMENTS]
            ],
        }
        for name in FIELD_NAMES
    ]


def _confusions(figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "field": name,
            "label": FIELD_LABELS[name],
            "values": figures[name]["confusion"]["values"],
            "rows": list(
                zip(
                    figures[name]["confusion"]["values"],
                    figures[name]["confusion"]["counts"],
                    strict=True,
                )
            ),
        }
        for name in FIELD_NAMES
    ]


def _breakdown_rows(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    return [
        {"label": row[by], "cells": [row["fields"][name] for name in FIELD_NAMES]} for row in rows
    ]


@role_required(*CALIBRATION_ROLES)
def campaign_calibration(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Every grader version that graded this campaign against its humans, side by side; the
    chosen one's confusion matrices, disagreeing items and figures per category and intent.

    A small campaign's figures are computed in the request; a large one's come from its
    snapshot, whose age the page states, with a button to recompute it in a worker (the page
    reloads itself when the new figures are in)."""
    campaign = calibration.calibration_campaign(slug=slug)
    snapshot = None
    if calibration.served_from_snapshot(campaign):
        snapshot = calibration.calibration_snapshot(campaign)
        if snapshot is None or snapshot.computed_at is None:
            try:
                snapshot = calibration.calibration_refresh_request(campaign=campaign)
            except BROKER_ERRORS:
                # The request stays recorded; the next visit after its patience asks again.
                snapshot = calibration.calibration_snapshot(campaign) or CalibrationSnapshot(
                    campaign=campaign
                )
                messages.error(request, BrokerUnavailable().message)
        if request.htmx:
            shown = request.GET.get("computed", "")
            computed = snapshot.computed_at.isoformat() if snapshot.computed_at else ""
            if computed != shown:
                return HttpResponse(headers={"HX-Refresh": "true"})
            return render(
                request,
                "labeling/grading/calibration.html#snapshot_status",
                {"campaign": campaign, "snapshot": snapshot},
            )
        versions = calibration.snapshot_versions(snapshot)
        data = snapshot.figures
    else:
        versions = calibration.graded_versions(campaign=campaign)
    chosen = next(
        (v for v in versions if f"{v.grader.name}:{v.number}" == request.GET.get("version")),
        versions[-1] if versions else None,
    )
    if snapshot is None:
        data = calibration.campaign_figures(
            campaign=campaign, versions=versions, detail_for={chosen.pk} if chosen else ()
        )
    per_version = data.get("versions", {})
    context: dict[str, Any] = {
        "campaign": campaign,
        "fields": list(FIELD_LABELS.values()),
        "resamples": data.get("reps", calibration.RESAMPLES),
        "snapshot": snapshot,
        "chosen": chosen,
        "rows": [
            {
                "version": version,
                "key": f"{version.grader.name}:{version.number}",
                "cells": _figure_cells(per_version[str(version.pk)]["figures"]),
            }
            for version in versions
        ],
        "can_review": has_role(request.user, *REVIEW_ROLES),
    }
    entry = per_version.get(str(chosen.pk)) if chosen is not None else None
    if entry is not None:
        figures = entry["figures"]
        context |= {
            "ceiling": _figure_cells(figures),
            "confusions": _confusions(figures),
            "disagreements": _disagreements(figures, entry["first_pairs"]),
            "by_category": _breakdown_rows(entry["by_category"], "category"),
            "by_intent": _breakdown_rows(entry["by_intent"], "intent"),
        }
    return render(request, "labeling/grading/calibration.html", context)


@require_POST
@role_required(*CALIBRATION_ROLES)
def campaign_calibration_refresh(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask a worker to recompute a large campaign's calibration snapshot."""
    campaign = calibration.calibration_campaign(slug=slug)
    try:
        calibration.calibration_refresh_request(campaign=campaign)
    except BROKER_ERRORS:
        messages.error(request, BrokerUnavailable().message)
    else:
        messages.success(request, "Recomputing the figures; this page reloads when they are in.")
    return redirect("labeling:campaign_calibration", slug=slug)


@require_POST
@role_required(*RESEARCH)
def grading_run_create(request: HttpRequest, name: str) -> HttpResponse:
    """Start a grading run of the grader's current version; its page follows it."""
    grader = grading_selectors.grader_get(name=name)
    current = grading_selectors.grader_current_version(grader=grader)
    run_form = GradingRunForm(request.POST)
    status = 400
    if run_form.is_valid():
        data = run_form.cleaned_data
        try:
            run = runs.run_create(
                campaign=data["campaign"],
                grader_version=current,
                candidates=data["candidates"],
                pairs=data["pairs"],
                limit=data["limit"],
                created_by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as error:
            run_form.add_error(None, error)
        except BrokerUnavailable as error:
            run_form.add_error(None, error.message)
            status = 503
        else:
            return redirect("labeling:grading_run_detail", pk=run.pk)
    return _grader_page(
        request,
        grader,
        current=current,
        form=GraderForm(version=current),
        run_form=run_form,
        status=status,
    )


@role_required(*RESEARCH)
def grading_run_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A grading run's progress; htmx polls the progress card while the run is going."""
    run = grading_selectors.grading_run_get(run_id=pk)
    context = {
        "run": run,
        "progress": grading_selectors.grading_run_progress(run=run),
        # Upstream error bodies are shown (truncated) to admins only.
        "user_is_admin": has_role(request.user, Role.ADMIN),
    }
    template = "labeling/grading/grading_run.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


@require_POST
@role_required(*RESEARCH)
def grading_run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    run = get_object_or_404(GradingRun, pk=pk)
    try:
        if action == "cancel":
            runs.run_cancel(run=run)
        else:
            runs.run_resume(run=run)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return redirect("labeling:grading_run_detail", pk=pk)


def _impact_url(name: str, old: int, new: int, campaign: Campaign | None) -> str:
    url = reverse("labeling:regrade_impact", args=[name, old, new])
    return url + ("?" + urlencode({"campaign": campaign.slug}) if campaign is not None else "")


@require_POST
@role_required(*RESEARCH)
def grader_regrade(request: HttpRequest, name: str) -> HttpResponse:
    """Re-grade the current version's items under a newer policy version, then show the
    impact report (partial while the runs go)."""
    grader = grading_selectors.grader_get(name=name)
    current = grading_selectors.grader_current_version(grader=grader)
    form = RegradeForm(request.POST, newer=_newer_policy_versions(current))
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            done = regrade.grader_regrade(
                grader=grader,
                policy_version=data["policy_version"],
                campaign=data["campaign"],
                grade_missing_categories=data["grade_missing_categories"],
                user=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        except BrokerUnavailable as error:
            form.add_error(None, error.message)
            status = 503
        else:
            started = len(done.started)
            messages.success(
                request,
                f"Re-grading with policy version {done.version.policy_version.number} as "
                f"{grader.name} v{done.version.number}"
                + (" (new version)" if done.version_created else "")
                + f": {started} run{'s' * (started != 1)} started"
                + (
                    f", {len(done.runs) - started} already there."
                    if len(done.runs) > started
                    else "."
                ),
            )
            return redirect(
                _impact_url(grader.name, done.source.number, done.version.number, data["campaign"])
            )
    return _grader_page(
        request,
        grader,
        current=current,
        form=GraderForm(version=current),
        regrade_form=form,
        status=status,
    )


# Flipped items listed per table on the page (the API and the command list every one).
PAGE_FLIPS = 200


def _impact_versions(name: str, old: int, new: int) -> tuple[Any, Any]:
    grader = grading_selectors.grader_get(name=name)
    if old == new:
        raise Http404("Compare two different versions.")
    return (
        grading_selectors.grader_version_get(grader=grader, number=old),
        grading_selectors.grader_version_get(grader=grader, number=new),
    )


def _impact_campaign(slug: str | None) -> Campaign | None:
    return get_object_or_404(Campaign, slug=slug) if slug else None


@require_GET
@role_required(*CALIBRATION_ROLES)
def regrade_impact(request: HtmxHttpRequest, name: str, old: int, new: int) -> HttpResponse:
    """Which labels flip from one grader version to another (a re-grade under another policy
    version), per category, each flipped item listed; htmx refreshes it while runs go."""
    old_version, new_version = _impact_versions(name, old, new)
    campaign = _impact_campaign(request.GET.get("campaign"))
    report = impact.regrade_impact(old=old_version, new=new_version, campaign=campaign)
    campaigns = impact.graded_campaigns([old_version, new_version])
    context = {
        "grader": old_version.grader,
        "old": old_version,
        "new": new_version,
        "campaign": campaign,
        "campaigns": campaigns,
        "report": report,
        "flip_kinds": impact.FLIP_KINDS,
        "flip_counts": [(label, report["flips"][kind]) for kind, label in impact.FLIP_KINDS],
        "category_rows": [
            {**row, "cells": [row["flips"][kind] for kind, _ in impact.FLIP_KINDS]}
            for row in report["by_category"]
        ],
        "candidates": report["candidates"][:PAGE_FLIPS],
        "pairs": report["pairs"][:PAGE_FLIPS],
        "only_old": report["only_old"][:PAGE_FLIPS],
        "only_new": report["only_new"][:PAGE_FLIPS],
        "can_review": has_role(request.user, *REVIEW_ROLES),
        "can_research": has_role(request.user, *RESEARCH),
        "send_url": reverse("labeling:regrade_impact_send", args=[name, old, new]),
    }
    template = "labeling/grading/impact.html"
    if request.htmx:
        template += "#report"
    return render(request, template, context)


@require_POST
@role_required(*CALIBRATION_ROLES)
def regrade_impact_send(request: HttpRequest, name: str, old: int, new: int) -> HttpResponse:
    """Send every flipped item's pair to the review queue (once per comparison)."""
    old_version, new_version = _impact_versions(name, old, new)
    campaign = _impact_campaign(request.POST.get("campaign"))
    sent = regrade.impact_send_to_review(
        old=old_version, new=new_version, campaign=campaign, user=request.user
    )
    added, already = len(sent.added), len(sent.already)
    messages.success(
        request,
        f"{added} pair{'s' * (added != 1)} sent to the review queue"
        + (f"; {already} were already there." if already else "."),
    )
    return redirect(_impact_url(name, old, new, campaign))
