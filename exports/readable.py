"""Export settings and counts as people read them.

The manifest and the API keep codes for programs (``too_few_judgments``, ``label_sources``,
lists, mappings, ``null``); the export pages and the dataset card show words: the export
form's own label for each setting, lists joined, mappings as "name value", intents by their
rubric label, "—" for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.forms.utils import pretty_name

from policy.rubric import Intent

from .forms import ExportForm

NOTHING = "—"
# Settings that are no field of the export form, by their words.
OTHER_SETTING_LABELS = {
    "split_ratios": "Split shares",
    "consensus_runs": "Consensus runs",
    "sft_threshold": "SFT threshold",
    "kto_threshold": "KTO threshold",
}


def code_text(code: Any) -> str:
    """A code of the manifest as words: ``too_few_judgments`` → "too few judgments"."""
    return str(code).replace("_", " ")


def value_text(value: Any) -> str:
    """A setting's value as words: lists joined, mappings as "name value", yes/no, "—"."""
    if value is None or value == "" or value == [] or value == ():
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{code_text(key)} {value_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value)
    return str(value)


def setting_label(name: str) -> str:
    field = ExportForm.base_fields.get(name)
    if field is not None and field.label:
        return str(field.label)
    return OTHER_SETTING_LABELS.get(name, pretty_name(name))


def setting_rows(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An export's stored settings (its ``spec``) as (label, value) rows, in the form's order."""
    order = {name: position for position, name in enumerate(ExportForm.base_fields)}
    rows = []
    for name, value in sorted(spec.items(), key=lambda item: order.get(item[0], len(order))):
        if name == "intents":
            value = [Intent(item).label if item in Intent.values else item for item in value]
        rows.append((setting_label(name), value_text(value)))
    return rows
