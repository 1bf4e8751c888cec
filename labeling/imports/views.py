"""The import page of a campaign, one view for prompts and candidates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from accounts.permissions import role_required
from accounts.roles import Role

from ..models import Campaign
from .candidates import candidate_import
from .common import ImportFailed, ImportReport, ImportTooLarge
from .forms import CandidateImportForm, PromptImportForm
from .problem_files import problem_file_store
from .prompts import prompt_import
from .uploads import problem_list_response, upload_limit_install


@dataclass(frozen=True)
class ImportKind:
    """What differs between importing prompts and importing candidates."""

    form: type[forms.Form]
    run: Callable[..., ImportReport]
    # Form fields passed on to ``run`` as they are (the file and defaults are common to both).
    extra_fields: tuple[str, ...]
    summary: Callable[[ImportReport], str]


KINDS: dict[str, ImportKind] = {
    "prompts": ImportKind(
        form=PromptImportForm,
        run=prompt_import,
        extra_fields=(),
        summary=lambda report: (
            f"Imported {report.created} prompt(s); skipped {report.duplicates} duplicate(s)."
        ),
    ),
    "candidates": ImportKind(
        form=CandidateImportForm,
        run=candidate_import,
        extra_fields=("source_name",),
        summary=lambda report: (
            f"Imported {report.created} candidate(s), {report.pairs_created} pair(s); "
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
    nothing is stored. A file over a size limit answers 413 naming the limit and its setting."""
    campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
    try:
        upload_limit_install(request)
        return _import_page(request, campaign, kind)
    except ImportTooLarge as error:
        context = {"campaign": campaign, "kind": kind, "form": KINDS[kind].form()}
        return render(
            request,
            "labeling/campaigns/import.html",
            {**context, "too_large": str(error)},
            status=413,
        )


@csrf_protect
def _import_page(request: HttpRequest, campaign: Campaign, kind: str) -> HttpResponse:
    importer = KINDS[kind]
    form = importer.form(request.POST or None, request.FILES or None)
    failure: ImportFailed | None = None
    download = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data["file"]
        try:
            report = importer.run(
                campaign=campaign,
                source=upload,
                file_format=data["format"],
                filename=upload.name,
                default_category=data["default_category"] or None,
                default_intent=data["default_intent"] or None,
                **{field: data[field] for field in importer.extra_fields},
            )
        except ImportFailed as error:
            failure = error
            token = problem_file_store(
                error=error, user_id=request.user.pk, campaign_id=campaign.pk
            )
            if token:
                download = reverse("labeling:campaign_import_problems", args=[campaign.slug, token])
        else:
            messages.success(request, importer.summary(report))
            return redirect("labeling:campaign_detail", slug=campaign.slug)
    return render(
        request,
        "labeling/campaigns/import.html",
        {
            "campaign": campaign,
            "kind": kind,
            "form": form,
            "failure": failure,
            "download": download,
        },
        status=400 if failure or form.errors else 200,
    )


@role_required(Role.RESEARCHER, Role.ADMIN)
def campaign_import_problems(request: HttpRequest, slug: str, token: str) -> FileResponse:
    """The full problem list (CSV: line, field, reason) of a failed import, only for the user
    who uploaded the file, for a day."""
    campaign = get_object_or_404(Campaign, slug=slug)
    return problem_list_response(user_id=request.user.pk, campaign=campaign, token=token)
