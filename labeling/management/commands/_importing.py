"""Shared by import_prompts and import_candidates: report printing and exit codes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from labeling.imports.common import ImportFailed, ImportReport, ImportTooLarge
from labeling.imports.prompts import load_mapping_file
from labeling.models import Campaign


def campaign_or_fail(slug: str) -> Campaign:
    campaign = Campaign.objects.select_related("policy_version").filter(slug=slug).first()
    if campaign is None:
        raise CommandError(f"No campaign {slug!r}.")
    return campaign


def fail_with_problems(command: Any, error: ImportFailed) -> None:
    """Every problem to stderr, one a line (streamed from the full list when there is one),
    then the count; the full list is not kept (stderr is the list)."""
    try:
        for problem in error.all_problems():
            command.stderr.write(str(problem))
    finally:
        error.discard()
    raise CommandError(f"{error.total} problem(s); nothing was imported.")


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


def run_import(
    command: Any, options: dict[str, Any], noun: str, importer: Any, **arguments: Any
) -> None:
    """Run ``importer`` for the command's FILE, --campaign and --mapping options.

    Every bad line goes to stderr and the command exits non-zero; nothing is imported then.
    A file over the expanded-size limit stops the command at the limit, naming its setting
    (the upload-size limit is the web's only).
    """
    campaign = campaign_or_fail(options["campaign"])
    try:
        mapping = load_mapping_file(options["mapping"]) if options["mapping"] else None
        report = importer(
            campaign=campaign,
            source=options["file"],
            file_format=options["format"],
            filename=options["file"],
            default_category=options["default_category"],
            default_intent=options["default_intent"],
            mapping=mapping,
            **arguments,
        )
    except ImportFailed as error:
        fail_with_problems(command, error)
        return
    except ImportTooLarge as error:
        raise CommandError(str(error)) from error
    except OSError as error:
        raise CommandError(f"cannot read {options['file']}: {error.strerror}") from error
    print_report(command, report, noun)
