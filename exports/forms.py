"""The "new export" form: every selection filter and setting, turned into spec data."""

from __future__ import annotations

from typing import Any

from django import forms

from labeling.models import Campaign, Grader
from policy.models import Category
from policy.rubric import PREFERENCE_MAX, Intent

from .spec import (
    ARCHIVE_FORMATS,
    CONSENSUS,
    DEFAULT_SPLIT_RATIOS,
    FORMATS,
    LABEL_SOURCE_CHOICES,
    LABEL_SOURCES,
    MAJORITY,
    PREFERENCE_SOURCES,
)

LABEL_SOURCE_TEXT = {
    "raw": "Raw judgments",
    "review": "Reviewer resolutions (override raw judgments where present)",
    "prior": "Imported prior labels (HH-RLHF preferences; used only where nothing else exists)",
}


LABEL_SOURCE_CHOICE_TEXT = {
    "human": "Human labels only",
    "grader": "The grader's labels only (AI labels)",
    "human-else-grader": "Human labels where they qualify, else the grader's",
}


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], initial="trl-preference")
    campaigns = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple)
    categories = forms.MultipleChoiceField(
        choices=(),
        required=False,
        help_text="An area selects all its leaves. None selected: every category.",
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    intents = forms.MultipleChoiceField(
        choices=Intent.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    date_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Judged from"
    )
    date_to = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Judged until"
    )
    policy_version = forms.IntegerField(
        required=False, min_value=1, help_text="Only judgments made under this version"
    )
    min_judgments = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    min_agreement = forms.FloatField(
        min_value=0, max_value=1, initial=0.0, help_text="Share of raters agreeing on direction"
    )
    label_sources = forms.MultipleChoiceField(
        choices=[(s, LABEL_SOURCE_TEXT[s]) for s in LABEL_SOURCES],
        initial=["raw", "review"],
        widget=forms.CheckboxSelectMultiple,
        label="Labels to trust",
    )
    label_source = forms.ChoiceField(
        choices=[(s, LABEL_SOURCE_CHOICE_TEXT[s]) for s in LABEL_SOURCE_CHOICES],
        initial="human",
        required=False,
        label="Whose labels",
        help_text="Empty: human",
    )
    labels = forms.ChoiceField(
        choices=[
            (MAJORITY, "majority — mean preference, most common mode"),
            (CONSENSUS, "consensus — the campaign's rater-weighted consensus model"),
        ],
        initial=MAJORITY,
        required=False,
        label="Combine raters by",
        help_text="Consensus: computed on the campaign's quality page",
    )
    grader = forms.ChoiceField(
        choices=(), required=False, help_text="For grader labels and the grades format"
    )
    grader_version = forms.IntegerField(
        required=False, min_value=1, help_text="Empty: its newest that graded the selection"
    )
    min_grader_confidence = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        initial=0.0,
        help_text="Grades under this confidence do not qualify",
    )
    preference_source = forms.ChoiceField(
        choices=[(s, s) for s in PREFERENCE_SOURCES], initial="human"
    )
    min_margin = forms.FloatField(min_value=0, max_value=PREFERENCE_MAX, initial=0.0)
    sft_threshold = forms.FloatField(
        min_value=0, max_value=1, initial=0.66, help_text="SFT: minimum helpfulness h"
    )
    kto_threshold = forms.FloatField(
        min_value=0, max_value=1, initial=0.5, help_text="KTO: label true when r is over this"
    )
    train = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_SPLIT_RATIOS["train"])
    validation = forms.FloatField(
        min_value=0, max_value=1, initial=DEFAULT_SPLIT_RATIOS["validation"]
    )
    test = forms.FloatField(min_value=0, max_value=1, initial=DEFAULT_SPLIT_RATIOS["test"])
    seed = forms.IntegerField(min_value=0, initial=1234)
    pseudonymise_annotators = forms.BooleanField(required=False, initial=True)
    archive_format = forms.ChoiceField(choices=[(a, a) for a in ARCHIVE_FORMATS])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        campaigns = Campaign.objects.order_by("slug").values_list("slug", "name")
        self.fields["campaigns"].choices = [(slug, f"{name} ({slug})") for slug, name in campaigns]  # type: ignore[attr-defined]
        paths = Category.objects.filter(active=True).order_by("path").values_list("path", flat=True)
        self.fields["categories"].choices = [(p, p) for p in paths]  # type: ignore[attr-defined]
        graders = Grader.objects.order_by("name").values_list("name", flat=True)
        self.fields["grader"].choices = [("", "—")] + [(name, name) for name in graders]  # type: ignore[attr-defined]

    def spec_data(self) -> dict[str, Any]:
        """Cleaned data as the spec parser takes it."""
        data = dict(self.cleaned_data)
        data["split_ratios"] = {name: data.pop(name) for name in ("train", "validation", "test")}
        for key in ("date_from", "date_to"):
            data[key] = data[key].isoformat() if data.get(key) else None
        data["grader"] = data.get("grader") or None
        return data

    def add_spec_errors(self, errors: dict[str, list[str]]) -> None:
        """Show a service's per-field ValidationError on the form."""
        for name, messages in errors.items():
            target = name if name in self.fields else None
            for message in messages:
                self.add_error(target, message)
