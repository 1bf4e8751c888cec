"""Import forms of the campaign page (prompts and candidates)."""

from __future__ import annotations

from django import forms

from policy.rubric import INTENTS

from . import candidates as candidate_imports
from . import prompts as prompt_imports

# Each intent by its value (what import files spell), or none.
DEFAULT_INTENT_CHOICES = [("", "—"), *[(intent, intent) for intent in INTENTS]]


class PromptImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or JSONL, optionally .gz")
    format = forms.ChoiceField(
        choices=[("", "From the file name"), *[(f, f) for f in prompt_imports.FORMATS]],
        required=False,
    )
    default_category = forms.CharField(required=False, help_text="a leaf path or slug")
    default_intent = forms.ChoiceField(
        choices=DEFAULT_INTENT_CHOICES,
        required=False,
    )


class CandidateImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(f, f) for f in candidate_imports.FORMATS])
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
