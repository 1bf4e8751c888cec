"""Forms of the policy pages. They parse input; the services validate and write."""

from __future__ import annotations

from typing import Any

from django import forms

from .document import FORMATS, PolicyError
from .models import NAME_MAX_LENGTH, SLUG_MAX_LENGTH, WorkingPolicy
from .rubric import LEVEL_KEYS, SEVERITY_LEVELS

LEVEL_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(LEVEL_KEYS.items())


def add_policy_errors(form: forms.Form, error: PolicyError) -> None:
    """Attach service errors to the form: on the field when it has one, else on the form."""
    for field, reason in error.errors:
        name = field.split(".")[0].split("[")[0]
        if name in form.fields and name == field:
            form.add_error(name, reason)
        elif field.startswith("guidance.") and f"guidance_{field.split('.')[1]}" in form.fields:
            form.add_error(f"guidance_{field.split('.')[1]}", reason)
        elif field.startswith("severity_to_safety.") and field.split(".")[1] in form.fields:
            form.add_error(field.split(".")[1], reason)
        else:
            form.add_error(None, f"{field}: {reason}")


def lines(text: str) -> list[str]:
    """One example per non-empty line."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class CategoryAddForm(forms.Form):
    parent = forms.CharField(required=False, max_length=255, help_text="Parent path; empty: top")
    slug = forms.CharField(max_length=SLUG_MAX_LENGTH * 2)
    name = forms.CharField(max_length=NAME_MAX_LENGTH * 2)


class CategoryRenameForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH * 2, required=False)
    slug = forms.CharField(max_length=SLUG_MAX_LENGTH * 2, required=False)


class CategoryMoveForm(forms.Form):
    parent = forms.CharField(required=False, max_length=255, help_text="Parent path; empty: top")


class CategoryEditForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH * 2, required=False)
    slug = forms.CharField(max_length=SLUG_MAX_LENGTH * 2, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    examples_acceptable = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="One per line"
    )
    examples_unacceptable = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="One per line"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for level in SEVERITY_LEVELS:
            self.fields[f"guidance_{level}"] = forms.CharField(
                label=f"Guidance: {level}",
                widget=forms.Textarea(attrs={"rows": 2}),
                required=False,
            )

    @classmethod
    def initial_for(cls, category: Any) -> dict[str, Any]:
        initial = {
            "name": category.name,
            "slug": category.slug,
            "description": category.description,
            "examples_acceptable": "\n".join(category.examples_acceptable),
            "examples_unacceptable": "\n".join(category.examples_unacceptable),
        }
        for level in SEVERITY_LEVELS:
            initial[f"guidance_{level}"] = category.guidance.get(level, "")
        return initial

    def guidance(self) -> dict[str, str]:
        return {
            level: self.cleaned_data[f"guidance_{level}"].strip()
            for level in SEVERITY_LEVELS
            if self.cleaned_data.get(f"guidance_{level}", "").strip()
        }


class MappingForm(forms.Form):
    """The severity->safety mapping: one number per level."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for level in SEVERITY_LEVELS:
            self.fields[level] = forms.FloatField(
                label=level,
                widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "1"}),
            )

    def mapping(self) -> dict[str, float]:
        return {level: self.cleaned_data[level] for level in SEVERITY_LEVELS}


class RubricForm(forms.Form):
    """The rubric markdown and every level description."""

    rubric = forms.CharField(widget=forms.Textarea(attrs={"rows": 18}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind, keys in LEVEL_KINDS:
            for key in keys:
                self.fields[f"level__{kind}__{key}"] = forms.CharField(
                    label=f"{kind.replace('_', ' ')}: {key}",
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 2}),
                )

    @classmethod
    def initial_for(cls, working: WorkingPolicy) -> dict[str, Any]:
        initial: dict[str, Any] = {"rubric": working.rubric}
        for kind, keys in LEVEL_KINDS:
            for key in keys:
                initial[f"level__{kind}__{key}"] = (working.levels or {}).get(kind, {}).get(key, "")
        return initial

    def levels(self) -> dict[str, dict[str, str]]:
        return {
            kind: {key: self.cleaned_data[f"level__{kind}__{key}"].strip() for key in keys}
            for kind, keys in LEVEL_KINDS
        }


class PublishForm(forms.Form):
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(
        choices=[("", "By file extension"), *[(name, name.upper()) for name in FORMATS]],
        required=False,
    )
