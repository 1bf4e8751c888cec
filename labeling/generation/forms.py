"""Forms of model endpoints (admins) and generation runs."""

from __future__ import annotations

from typing import Any

from django import forms

from ..models import ModelEndpoint
from .key_env import key_env_problem
from .styles import BUILT_IN


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

    def clean_api_key_env(self) -> str:
        name = (self.cleaned_data.get("api_key_env") or "").strip()
        problem = key_env_problem(name)
        if problem is not None:
            raise forms.ValidationError(problem)
        return name


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
