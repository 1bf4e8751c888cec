"""Forms of the campaign, import, endpoint and generation pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from policy.models import PolicyVersion

from .generation.styles import BUILT_IN
from .imports import candidates as candidate_imports
from .imports import prompts as prompt_imports
from .models import Campaign, ModelEndpoint


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = (
            "name",
            "slug",
            "policy_version",
            "instructions",
            "judgments_per_pair",
            "pair_strategy",
            "max_pairs_per_prompt",
            "open_to_all_annotators",
            "members",
        )
        widgets = {"instructions": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy_version"].queryset = PolicyVersion.objects.order_by("-number")  # type: ignore[attr-defined]
        self.fields["members"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(groups__name__in=("annotator", "reviewer"))
            .distinct()
            .order_by("username")
        )
        self.fields["members"].required = False
        if not self.instance.pk:
            latest = PolicyVersion.objects.order_by("-number").first()
            self.fields["policy_version"].initial = latest
        else:
            self.fields["slug"].disabled = True
            if self.instance.status != Campaign.Status.DRAFT:
                self.fields["policy_version"].disabled = True


class PromptImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or JSONL, optionally .gz")
    format = forms.ChoiceField(
        choices=[("", "From the file name"), *[(f, f) for f in prompt_imports.FORMATS]],
        required=False,
    )
    default_category = forms.CharField(required=False, help_text="a leaf path or slug")
    default_intent = forms.ChoiceField(
        choices=[
            ("", "—"),
            ("benign", "benign"),
            ("dual_use", "dual_use"),
            ("malicious", "malicious"),
        ],
        required=False,
    )


class CandidateImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(f, f) for f in candidate_imports.FORMATS])
    source_name = forms.CharField(required=False, help_text="XSTest: taken from the file name")
    default_category = forms.CharField(required=False, help_text="for prompts not yet imported")
    default_intent = forms.ChoiceField(
        choices=[
            ("", "—"),
            ("benign", "benign"),
            ("dual_use", "dual_use"),
            ("malicious", "malicious"),
        ],
        required=False,
    )


class EndpointForm(forms.ModelForm):
    # A URL typed without a scheme means https (Django 6's default; stated here, not assumed).
    base_url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = ModelEndpoint
        fields = (
            "name",
            "base_url",
            "model",
            "api_key_env",
            "timeout_seconds",
            "concurrency_limit",
        )
        labels = {"api_key_env": "Name of the environment variable holding the API key"}


class RunForm(forms.Form):
    endpoints = forms.ModelMultipleChoiceField(
        queryset=ModelEndpoint.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    styles = forms.MultipleChoiceField(
        choices=[(name, name) for name in BUILT_IN],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    custom_style_name = forms.SlugField(required=False, max_length=80)
    custom_style_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000
    )
    samples_per_prompt = forms.IntegerField(min_value=1, max_value=16, initial=1)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.7)
    max_tokens = forms.IntegerField(min_value=1, max_value=32_768, initial=512)
    seed = forms.IntegerField(initial=0)
    prompt_limit = forms.IntegerField(min_value=1, required=False, help_text="first N prompts only")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        styles = [dict(BUILT_IN[name]) for name in data.get("styles", [])]
        if data.get("custom_style_text"):
            if not data.get("custom_style_name"):
                self.add_error("custom_style_name", "Name the custom style.")
            else:
                styles.append(
                    {"name": data["custom_style_name"], "system_prompt": data["custom_style_text"]}
                )
        if not styles:
            self.add_error("styles", "Choose at least one style (or write a custom one).")
        data["style_list"] = styles
        return data
