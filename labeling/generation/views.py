"""Pages of model endpoints (admins) and generation runs (researchers)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.roles import Role, has_role
from presentation.htmx import HtmxHttpRequest

from ..broker import BrokerUnavailable
from ..models import Campaign, GenerationRun, ModelEndpoint
from . import endpoints, runs
from . import selectors as generation_selectors
from .client import CallError
from .forms import (
    EndpointForm,
    RunForm,
)

RESEARCH = (Role.RESEARCHER, Role.ADMIN)


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
                endpoints.endpoint_create(**form.cleaned_data)
            else:
                endpoints.endpoint_update(
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
        models = endpoints.endpoint_test(endpoint=endpoint)
    except CallError as failure:
        error = str(failure)  # truncated and redacted by the client; admins only
    return render(
        request,
        "labeling/generation/endpoints.html#test_result",
        {"endpoint": endpoint, "models": models, "error": error},
    )


@role_required(*RESEARCH)
def run_create(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    form = RunForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = runs.run_create(
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
        except BrokerUnavailable as error:
            form.add_error(None, error.message)
            status = 503
        else:
            return redirect("labeling:run_detail", pk=run.pk)
    return render(
        request,
        "labeling/generation/run_form.html",
        {"form": form, "campaign": campaign},
        status=status,
    )


@role_required(*RESEARCH)
def run_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = generation_selectors.run_get(run_id=pk)
    context = {
        "run": run,
        "progress": generation_selectors.run_progress(run=run),
        # Upstream error bodies are shown (truncated) to admins only.
        "user_is_admin": has_role(request.user, Role.ADMIN),
    }
    template = "labeling/generation/run_detail.html"
    if request.htmx:
        template += "#progress"
    return render(request, template, context)


@require_POST
@role_required(*RESEARCH)
def run_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    run = get_object_or_404(GenerationRun, pk=pk)
    try:
        if action == "cancel":
            runs.run_cancel(run=run)
        elif action == "resume":
            runs.run_resume(run=run)
        else:
            figures = runs.run_recover(run_id=run.pk, stall_seconds=0)
            messages.info(
                request,
                f"Recovered: {figures['expired']} expired, {figures['resent']} re-sent.",
            )
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    return redirect("labeling:run_detail", pk=pk)
