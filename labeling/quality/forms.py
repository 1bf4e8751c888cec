"""Forms of the quality pages: review resolution, prompt correction, gold answer."""

from __future__ import annotations

from typing import Any

from django import forms

from labeling.models import Review
from policy.rubric import Intent, ResponseMode, Severity

HELPFULNESS_CHOICES = [(value, str(value)) for value in range(1, 5)]
PREFERENCE_CHOICES = [
    (-2, "−2 A much better"),
    (-1, "−1 A slightly better"),
    (0, "0 about equal"),
    (1, "+1 B slightly better"),
    (2, "+2 B much better"),
]
DIRECTION_CHOICES = [(-1, "A better"), (0, "about equal"), (1, "B better")]


class ReviewForm(forms.Form):
    """Final per-side labels and preference, or discard the pair."""

    resolution = forms.ChoiceField(choices=Review.Resolution.choices, widget=forms.RadioSelect)
    a_response_mode = forms.ChoiceField(choices=ResponseMode.choices, required=False)
    a_severity = forms.ChoiceField(choices=Severity.choices, required=False)
    a_helpfulness = forms.TypedChoiceField(
        choices=HELPFULNESS_CHOICES, coerce=int, required=False, empty_value=None
    )
    b_response_mode = forms.ChoiceField(choices=ResponseMode.choices, required=False)
    b_severity = forms.ChoiceField(choices=Severity.choices, required=False)
    b_helpfulness = forms.TypedChoiceField(
        choices=HELPFULNESS_CHOICES, coerce=int, required=False, empty_value=None
    )
    preference = forms.TypedChoiceField(
        choices=PREFERENCE_CHOICES, coerce=int, required=False, empty_value=None
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def final_labels(self) -> dict[str, Any] | None:
        """The labels in export shape (validated again by the service)."""
        data = self.cleaned_data
        if data["resolution"] != Review.Resolution.LABELS:
            return None
        return {
            side: {
                "response_mode": data[f"{side}_response_mode"],
                "severity": data[f"{side}_severity"],
                "helpfulness": data[f"{side}_helpfulness"],
            }
            for side in ("a", "b")
        } | {"preference": data["preference"]}


class PromptCorrectionForm(forms.Form):
    """A reviewer's correction of a prompt's category or intent."""

    category_path = forms.ChoiceField(choices=())
    intent = forms.ChoiceField(choices=Intent.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, categories: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["category_path"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(path, path) for path in categories]


class GoldAnswerForm(forms.Form):
    """The expected answer of a gold pair."""

    a_severity = forms.ChoiceField(choices=Severity.choices)
    a_helpfulness = forms.TypedChoiceField(choices=HELPFULNESS_CHOICES, coerce=int)
    b_severity = forms.ChoiceField(choices=Severity.choices)
    b_helpfulness = forms.TypedChoiceField(choices=HELPFULNESS_CHOICES, coerce=int)
    preference = forms.TypedChoiceField(choices=DIRECTION_CHOICES, coerce=int)
    severity_tolerance = forms.IntegerField(min_value=0, max_value=4, initial=0)
    helpfulness_tolerance = forms.IntegerField(min_value=0, max_value=3, initial=1)

    def answer(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "a": {"severity": data["a_severity"], "helpfulness": data["a_helpfulness"]},
            "b": {"severity": data["b_severity"], "helpfulness": data["b_helpfulness"]},
            "preference": data["preference"],
            "severity_tolerance": data["severity_tolerance"],
            "helpfulness_tolerance": data["helpfulness_tolerance"],
        }

    @classmethod
    def initial_from(cls, answer: dict[str, Any] | None) -> dict[str, Any]:
        if not answer:
            return {"severity_tolerance": 0, "helpfulness_tolerance": 1}
        return {
            "a_severity": answer["a"]["severity"],
            "a_helpfulness": answer["a"]["helpfulness"],
            "b_severity": answer["b"]["severity"],
            "b_helpfulness": answer["b"]["helpfulness"],
            "preference": answer["preference"],
            "severity_tolerance": answer.get("severity_tolerance", 0),
            "helpfulness_tolerance": answer.get("helpfulness_tolerance", 0),
        }
