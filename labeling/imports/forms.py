"""Import forms of the campaign page (prompts and candidates)."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from policy.rubric import Intent

from . import candidates as candidate_imports
from . import prompts as prompt_imports
from .common import ImportFailed

# Each intent by its label (the value is what import files spell), or none.
DEFAULT_INTENT_CHOICES = [("", "—"), *Intent.choices]
DETECT = ("", "Detect from the file (name and content)")
# A mapping file is small: a few hundred names at most.
MAPPING_MAX_BYTES = 256 * 1024


def builtin_mapping_text() -> str:
    """The built-in XSTest mapping as the page's editor shows it."""
    return json.dumps(prompt_imports.BUILTIN_XSTEST_MAPPING, indent=2)


class _MappingFields(forms.Form):
    """The XSTest mapping: an uploaded file, else the editor's text, laid over the built-in
    mapping (an untouched editor is the built-in mapping itself)."""

    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
        help_text="XSTest only: JSON or YAML; your entries win over the built-in ones",
    )
    mapping_file = forms.FileField(
        required=False, help_text="XSTest only: a JSON or YAML mapping file (replaces the text)"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("mapping_file")
        text = data.get("mapping") or ""
        if upload is not None:
            if (upload.size or 0) > MAPPING_MAX_BYTES:
                self.add_error("mapping_file", "The mapping file is too large (at most 256 KiB).")
                return data
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("mapping_file", "The mapping file is not UTF-8 text.")
                return data
            field = "mapping_file"
        else:
            field = "mapping"
        data["mapping_data"] = None
        if text.strip():
            try:
                parsed = prompt_imports.mapping_from_text(text)
            except ImportFailed as error:
                self.add_error(field, "; ".join(str(problem) for problem in error.problems))
            else:
                # The editor's untouched text is no mapping of the uploader's own (so a
                # default category still applies where it would without the editor).
                if parsed != prompt_imports.BUILTIN_XSTEST_MAPPING:
                    data["mapping_data"] = parsed
        return data


class PromptImportForm(_MappingFields):
    file = forms.FileField(help_text="CSV, JSONL or XSTest's prompts CSV, optionally .gz")
    format = forms.ChoiceField(
        choices=[DETECT, *[(f, f) for f in prompt_imports.FORMATS]], required=False
    )
    default_category = forms.CharField(required=False, help_text="a leaf path or slug")
    default_intent = forms.ChoiceField(
        choices=DEFAULT_INTENT_CHOICES,
        required=False,
    )
    field_order = ("file", "format", "default_category", "default_intent")


class CandidateImportForm(_MappingFields):
    file = forms.FileField()
    format = forms.ChoiceField(
        choices=[DETECT, *[(f, f) for f in candidate_imports.FORMATS]], required=False
    )
    source_name = forms.CharField(required=False, help_text="XSTest: taken from the file name")
    label_mapping = forms.FileField(
        required=False,
        help_text="JSON or YAML: prior labels' own values → the rubric's (jsonl, csv)",
    )
    default_category = forms.CharField(required=False, help_text="for prompts not yet imported")
    default_intent = forms.ChoiceField(
        choices=DEFAULT_INTENT_CHOICES,
        required=False,
    )
    field_order = ("file", "format", "source_name", "default_category", "default_intent")
