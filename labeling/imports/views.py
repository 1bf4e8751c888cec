"""The import page of a campaign, one view for prompts and candidates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.permissions import role_required
from accounts.roles import Role

from ..models import Campaign
from .candidates import candidate_import
from .common import ImportFailed, ImportReport
from .forms import CandidateImportForm, PromptImportForm
from .prompts import prompt_import


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


@role_required(Role.RESEARCHER, Role.ADMIN)
def campaign_import(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """GET: the import form. POST: import the file, all or nothing; on failure the page lists
    every problem by line and field, and nothing is stored."""
    importer = KINDS[kind]
    campaign = get_object_or_404(Campaign.objects.select_related("policy_version"), slug=slug)
    form = importer.form(request.POST or None, request.FILES or None)
    problems: list[Any] = []
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
            problems = error.problems
        else:
            messages.success(request, importer.summary(report))
            return redirect("labeling:campaign_detail", slug=slug)
    return render(
        request,
        "labeling/campaigns/import.html",
        {"campaign": campaign, "kind": kind, "form": form, "problems": problems},
        status=400 if problems or form.errors else 200,
    )
