"""Researcher pages of campaigns: list, create, edit, detail and status."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role
from presentation.markdown import render_markdown

from ..generation import selectors as generation_selectors
from ..imports.forms import CandidateImportForm, PromptImportForm
from ..models import Campaign
from ..routing.selectors import routing_summary
from . import selectors as campaign_selectors
from . import services as campaign_services
from .forms import CampaignForm

RESEARCH = (Role.RESEARCHER, Role.ADMIN)

CAMPAIGN_FIELDS = (
    "name",
    "instructions",
    "judgments_per_pair",
    "pair_strategy",
    "max_pairs_per_prompt",
    "open_to_all_annotators",
    "show_gold_score",
    "routing",
    "routing_grader",
    "human_budget",
    "accept_confidence",
    "accept_consistency",
    "spot_check_share",
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
        "instructions_html": render_markdown(campaign.instructions),
        "routing": routing_summary(campaign=campaign),
    }
    return render(request, "labeling/campaigns/detail.html", context)


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
