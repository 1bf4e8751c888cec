"""The import page of a campaign, one view for prompts and candidates, and the page of an
import job (its progress polled with htmx, then its result)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.permissions import role_required
from accounts.roles import Role
from presentation.htmx import HtmxHttpRequest

from ..broker import BrokerUnavailable
from ..models import Campaign, ImportJob
from .common import ImportFailed, ImportReport, ImportTooLarge
from .forms import CandidateImportForm, PromptImportForm, builtin_mapping_text
from .jobs import ImportOptions, import_upload, label_mapping_of
from .problem_files import problem_file_store
from .prompts import mapping_from_text
from .selectors import import_job_for_user, xstest_mapping_preview
from .uploads import problem_list_response, upload_limit_install


@dataclass(frozen=True)
class ImportKind:
    """What differs between importing prompts and importing candidates."""

    form: type[forms.Form]
    summary: Callable[[ImportReport], str]


KINDS: dict[str, ImportKind] = {
    "prompts": ImportKind(
        form=PromptImportForm,
        summary=lambda report: (
            f"Imported {report.created} prompt(s) ({report.file_format}); "
            f"skipped {report.duplicates} duplicate(s)."
        ),
    ),
    "candidates": ImportKind(
        form=CandidateImportForm,
        summary=lambda report: (
            f"Imported {report.created} candidate(s) ({report.file_format}), "
            f"{report.pairs_created} pair(s); "
            f"skipped {report.duplicates} duplicate(s); "
            f"{len(report.reported)} row(s) reported and left out."
        ),
    ),
}


@csrf_exempt  # the upload limit must be set before the CSRF check reads the body; see below
@role_required(Role.RESEARCHER, Role.ADMIN)
def campaign_import(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """GET: the import form. POST: import the file, all or nothing; on failure the page shows
    the problems grouped by kind (count, first lines) with the full list as a CSV download, and
    nothing is stored. A file over a size limit answers 413 naming the limit and its setting.
    A file over ``IMPORT_JOB_THRESHOLD_BYTES`` becomes a job: the answer is its page."""
    campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
    try:
        upload_limit_install(request)
        return _import_page(request, campaign, kind)
    except ImportTooLarge as error:
        context = {
            "campaign": campaign,
            "kind": kind,
            "form": KINDS[kind].form(initial={"mapping": builtin_mapping_text()}),
            "mapping_rows": xstest_mapping_preview(campaign, None),
        }
        return render(
            request,
            "labeling/campaigns/import.html",
            {**context, "too_large": str(error)},
            status=413,
        )


@csrf_protect
def _import_page(request: HttpRequest, campaign: Campaign, kind: str) -> HttpResponse:
    importer = KINDS[kind]
    form = importer.form(
        request.POST or None, request.FILES or None, initial={"mapping": builtin_mapping_text()}
    )
    failure: ImportFailed | None = None
    download = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            options = ImportOptions(
                file_format=data["format"],
                default_category=data["default_category"] or None,
                default_intent=data["default_intent"] or None,
                source_name=data.get("source_name", ""),
                label_mapping=label_mapping_of(data.get("label_mapping")),
                mapping=data.get("mapping_data"),
            )
            outcome = import_upload(
                campaign=campaign,
                kind=kind,
                upload=data["file"],
                options=options,
                user=request.user,
            )
        except BrokerUnavailable as error:
            form.add_error(None, error.message)
            status = 503
        except ImportFailed as error:
            failure = error
            token = problem_file_store(
                error=error, user_id=request.user.pk, campaign_id=campaign.pk
            )
            if token:
                download = reverse("labeling:campaign_import_problems", args=[campaign.slug, token])
        else:
            if isinstance(outcome, ImportJob):
                return redirect("labeling:import_job_detail", slug=campaign.slug, job_id=outcome.id)
            messages.success(request, importer.summary(outcome))
            return redirect("labeling:campaign_detail", slug=campaign.slug)
    if status == 200 and (failure or form.errors):
        status = 400
    mapping_data = form.cleaned_data.get("mapping_data") if form.is_bound else None
    return render(
        request,
        "labeling/campaigns/import.html",
        {
            "campaign": campaign,
            "kind": kind,
            "form": form,
            "failure": failure,
            "download": download,
            "mapping_rows": xstest_mapping_preview(
                campaign,
                mapping_data if isinstance(mapping_data, dict) else None,
                default_category=request.POST.get("default_category") or None,
                default_intent=request.POST.get("default_intent") or None,
            ),
        },
        status=status,
    )


@role_required(Role.RESEARCHER, Role.ADMIN)
@require_POST
def xstest_mapping_table(request: HttpRequest, slug: str) -> HttpResponse:
    """The XSTest mapping's table for the import page (htmx, as the editor changes): each
    type, the category and intent its rows land in, or what is wrong."""
    campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
    text = request.POST.get("mapping", "")
    error = ""
    mapping = None
    if text.strip():
        try:
            mapping = mapping_from_text(text)
        except ImportFailed as failed:
            error = "; ".join(str(problem) for problem in failed.problems)
    rows = xstest_mapping_preview(
        campaign,
        mapping,
        default_category=request.POST.get("default_category") or None,
        default_intent=request.POST.get("default_intent") or None,
    )
    return render(
        request,
        "labeling/campaigns/_xstest_mapping.html",
        {"mapping_rows": rows, "mapping_error": error},
    )


@role_required(Role.RESEARCHER, Role.ADMIN)
@vary_on_headers("HX-Request")
def import_job_detail(request: HtmxHttpRequest, slug: str, job_id: str) -> HttpResponse:
    """An import job's progress (polled with htmx while it runs) and then its result: the
    counts, or the problems grouped by kind with the full list as a CSV download."""
    job = import_job_for_user(request.user, job_id, campaign_slug=slug)
    download = ""
    if job.problems_token and job.created_by_id == request.user.pk:
        download = reverse("labeling:campaign_import_problems", args=[slug, job.problems_token])
    template = (
        "labeling/campaigns/import_job.html#status"
        if request.htmx
        else "labeling/campaigns/import_job.html"
    )
    return render(request, template, {"job": job, "download": download})


@role_required(Role.RESEARCHER, Role.ADMIN)
def campaign_import_problems(request: HttpRequest, slug: str, token: str) -> FileResponse:
    """The full problem list (CSV: line, field, reason) of a failed import, only for the user
    who uploaded the file, for a day."""
    campaign = get_object_or_404(Campaign, slug=slug)
    return problem_list_response(user_id=request.user.pk, campaign=campaign, token=token)
