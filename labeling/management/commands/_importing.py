"""Shared by import_prompts and import_candidates: report printing and exit codes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from labeling.imports.common import ImportFailed, ImportReport
from labeling.models import Campaign


def campaign_or_fail(slug: str) -> Campaign:
    campaign = Campaign.objects.select_related("policy_version").filter(slug=slug).first()
    if campaign is None:
        raise CommandError(f"No campaign {slug!r}.")
    return campaign


def fail_with_problems(command: Any, error: ImportFailed) -> None:
    for problem in error.problems:
        command.stderr.write(str(problem))
    raise CommandError(f"{len(error.problems)} problem(s); nothing was imported.")


def print_report(command: Any, report: ImportReport, noun: str) -> None:
    for problem in report.reported:
        command.stderr.write(f"reported, not imported: {problem}")
    command.stdout.write(
        f"Imported {report.created} {noun}; skipped {report.duplicates} duplicate(s)"
        + (f"; created {report.prompts_created} prompt(s)" if report.prompts_created else "")
        + (f"; built {report.pairs_created} pair(s)" if report.pairs_created else "")
        + (f"; {len(report.reported)} row(s) reported" if report.reported else "")
        + "."
    )
