"""Researcher pages: campaigns, imports, generation runs; admin pages: model endpoints."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.roles import Role, has_role, role_required

from .campaigns import selectors as campaign_selectors
from .campaigns import services as campaign_services
from .forms_campaigns import (
    CampaignForm,
    CandidateImportForm,
    EndpointForm,
    PromptImportForm,
    RunForm,
)
from .generation import selectors as generation_selectors
from .generation import services as generation_services
from .generation.client import CallError
from .imports.candidates import candidate_import
from .imports.common import ImportFailed
from .imports.prompts import prompt_import
from .models import Campaign, GenerationRun, ModelEndpoint

RESEARCH = (Role.RESEARCHER, Role.ADMIN)

CAMPAIGN_FIELDS = (
    "name",
    "instructions",
    "judgments_per_pair",
    "pair_strategy",
    "max_pairs_per_prompt",
    "open_to_all_annotators",
)


@role_required(*RESEARCH)
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = campaign_selectors.campaign_list_with_counts()
    return render(request, "labeling/campaigns/list.html", {"campaigns": campaigns})


@role_required(*RESEARCH)
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = campaign_services.campaign_create(
                slug=data["slug"],
                policy_version=data["policy_version"],
                members=data["members"],
                created_by=request.user,  # type: ignore[arg-type]
                **{field: data[field] for field in CAMPAIGN_FIELDS},
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Campaign {campaign.name} created as a draft.")
            return redirect("labeling:campaign_detail", slug=campaign.slug)
    return render(request, "labeling/campaigns/form.html", {"form": form, "campaign": None})


@role_required(*RESEARCH)
def campaign_edit(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = {field: data[field] for field in CAMPAIGN_FIELDS}
        if campaign.status == Campaign.Status.DRAFT:
            changes["policy_version"] = data["policy_version"]
        try:
            campaign_services.campaign_update(
                campaign=Campaign.objects.get(pk=campaign.pk), members=data["members"], **changes
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Campaign saved.")
            return redirect("labeling:campaign_detail", slug=campaign.slug)
    return render(request, "labeling/campaigns/form.html", {"form": form, "campaign": campaign})


@role_required(*RESEARCH)
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_selectors.campaign_get(slug=slug)
    context: dict[str, Any] = {
        "campaign": campaign,
        "categories": campaign_selectors.campaign_category_counts(campaign=campaign),
        "runs": generation_selectors.run_list(campaign_id=campaign.pk)[:20],
        "prompt_form": PromptImportForm(),
        "candidate_form": CandidateImportForm(),
        "instructions_html": _markdown(campaign.instructions),
    }
    return render(request, "labeling/campaigns/detail.html", context)


def _markdown(text: str) -> Any:
    try:
        from policy.markdown import render_markdown
    except ImportError:  # pragma: no cover - the policy app always ships it now
        return None
    return render_markdown(text)


@require_POST
@role_required(*RESEARCH)
def campaign_status(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    try:
        campaign_services.campaign_set_status(
            campaign=campaign, status=request.POST.get("status", "")
        )
    except (ValidationError, ValueError) as error:
        messages.error(request, "; ".join(getattr(error, "messages", [str(error)])))
    else:
        messages.success(request, f"Campaign is now {campaign.get_status_display().lower()}.")
    return redirect("labeling:campaign_detail", slug=slug)


def _import_page(
    request: HttpRequest, campaign: Campaign, kind: str, form: Any, problems: list[Any]
) -> HttpResponse:
    return render(
        request,
        "labeling/campaigns/import.html",
        {"campaign": campaign, "kind": kind, "form": form, "problems": problems},
        status=400 if problems or form.errors else 200,
    )


@role_required(*RESEARCH)
def campaign_import_prompts(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
    form = PromptImportForm(request.POST or None, request.FILES or None)
    problems: list[Any] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = prompt_import(
                campaign=campaign,
                source=upload,
                file_format=form.cleaned_data["format"],
                filename=upload.name,
                default_category=form.cleaned_data["default_category"] or None,
                default_intent=form.cleaned_data["default_intent"] or None,
            )
        except ImportFailed as error:
            problems = error.problems
        else:
            messages.success(
                request,
                f"Imported {report.created} prompt(s); skipped {report.duplicates} duplicate(s).",
            )
            return redirect("labeling:campaign_detail", slug=slug)
    return _import_page(request, campaign, "prompts", form, problems)


@role_required(*RESEARCH)
def campaign_import_candidates(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
    form = CandidateImportForm(request.POST or None, request.FILES or None)
    problems: list[Any] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = candidate_import(
                campaign=campaign,
                source=upload,
                file_format=form.cleaned_data["format"],
                filename=upload.name,
                source_name=form.cleaned_data["source_name"],
                default_category=form.cleaned_data["default_category"] or None,
                default_intent=form.cleaned_data["default_intent"] or None,
            )
        except ImportFailed as error:
            problems = error.problems
        else:
            messages.success(
                request,
                f"Imported {report.created} candidate(s), {report.pairs_created} pair(s); "
                f"skipped {report.duplicates} duplicate(s); "
                f"{len(report.reported)} row(s) reported and left out.",
            )
            return redirect("labeling:campaign_detail", slug=slug)
    return _import_page(request, campaign, "candidates", form, problems)


# --- model endpoints (admins only) ---------------------------------------------------------


@role_required(Role.ADMIN)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "labeling/generation/endpoints.html",
        {"endpoints": generation_selectors.endpoint_list(), "form": EndpointForm()},
    )


@role_required(Role.ADMIN)
def endpoint_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    endpoint = get_object_or_404(ModelEndpoint, pk=pk) if pk else None
    form = EndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        try:
            if endpoint is None:
                generation_services.endpoint_create(**form.cleaned_data)
            else:
                generation_services.endpoint_update(
                    endpoint=ModelEndpoint.objects.get(pk=endpoint.pk), **form.cleaned_data
                )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("labeling:endpoint_list")
    return render(
        request, "labeling/generation/endpoint_form.html", {"form": form, "endpoint": endpoint}
    )


@require_POST
@role_required(Role.ADMIN)
def endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(ModelEndpoint, pk=pk)
    models: list[str] = []
    error = ""
    try:
        models = generation_services.endpoint_test(endpoint=endpoint)
    except CallError as failure:
        error = str(failure)  # truncated and redacted by the client; admins only
    return render(
        request,
        "labeling/generation/endpoints.html#test_result",
        {"endpoint": endpoint, "models": models, "error": error},
    )


# --- generation runs ----------------------------------------------------------------------


@role_required(*RESEARCH)
def run_create(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    form = RunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = generation_services.run_create(
                campaign=campaign,
                endpoints=data["endpoints"],
                styles=data["style_list"],
                samples_per_prompt=data["samples_per_prompt"],
                temperature=data["temperature"],
                max_tokens=data["max_tokens"],
                seed=data["seed"],
                prompt_limit=data["prompt_limit"],
                created_by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("labeling:run_detail", pk=run.pk)
    return render(
        request, "labeling/generation/run_form.html", {"form": form, "campaign": campaign}
    )


@role_required(*RESEARCH)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = generation_selectors.run_get(run_id=pk)
    context = {
        "run": run,
        "progress": generation_selectors.run_progress(run=run),
        # Upstream error bodies are shown (truncated) to admins only.
        "user_is_admin": has_role(request.user, Role.ADMIN),
    }
    template = "labeling/generation/run_detail.html"
    if request.headers.get("HX-Request"):
        template += "#progress"
    return render(request, template, context)


@require_POST
@role_required(*RESEARCH)
def run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    run = get_object_or_404(GenerationRun, pk=pk)
    try:
        if action == "cancel":
            generation_services.run_cancel(run=run)
        elif action == "resume":
            generation_services.run_resume(run=run)
        else:
            figures = generation_services.run_recover(run_id=run.pk, stall_seconds=0)
            messages.info(
                request,
                f"Recovered: {figures['expired']} expired, {figures['resent']} re-sent.",
            )
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return redirect("labeling:run_detail", pk=pk)
