"""Forms of the quality pages: review resolution, prompt correction, gold answer."""

from __future__ import annotations

from typing import Any

from django import forms

from labeling.models import Review
from policy.rubric import (
    CANONICAL_SIDES,
    HELPFULNESS_GRADES,
    PREFERENCE_DIRECTION_LABELS,
    PREFERENCE_FIELD,
    PREFERENCE_LABELS,
    SIDE_FIELDS,
    Intent,
    ResponseMode,
    Severity,
    side_field,
)

from .gold import GOLD_SIDE_FIELDS, HELPFULNESS_TOLERANCE_MAX, SEVERITY_TOLERANCE_MAX


def _signed(value: int) -> str:
    """``−2``, ``0``, ``+1``: the value with its sign (a typographic minus)."""
    return f"{value:+d}".replace("-", "\N{MINUS SIGN}") if value else "0"


HELPFULNESS_CHOICES = [(grade, str(grade)) for grade in HELPFULNESS_GRADES]
PREFERENCE_CHOICES = [
    (value, f"{_signed(value)} {label}") for value, label in PREFERENCE_LABELS.items()
]
DIRECTION_CHOICES = list(PREFERENCE_DIRECTION_LABELS.items())


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
            side: {name: data[side_field(side, name)] for name in SIDE_FIELDS}
            for side in CANONICAL_SIDES
        } | {PREFERENCE_FIELD: data[PREFERENCE_FIELD]}


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
    severity_tolerance = forms.IntegerField(
        min_value=0, max_value=SEVERITY_TOLERANCE_MAX, initial=0
    )
    helpfulness_tolerance = forms.IntegerField(
        min_value=0, max_value=HELPFULNESS_TOLERANCE_MAX, initial=1
    )

    def answer(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **{
                side: {name: data[side_field(side, name)] for name in GOLD_SIDE_FIELDS}
                for side in CANONICAL_SIDES
            },
            PREFERENCE_FIELD: data[PREFERENCE_FIELD],
            "severity_tolerance": data["severity_tolerance"],
            "helpfulness_tolerance": data["helpfulness_tolerance"],
        }

    @classmethod
    def initial_from(cls, answer: dict[str, Any] | None) -> dict[str, Any]:
        if not answer:
            return {"severity_tolerance": 0, "helpfulness_tolerance": 1}
        return {
            **{
                side_field(side, name): answer[side][name]
                for side in CANONICAL_SIDES
                for name in GOLD_SIDE_FIELDS
            },
            PREFERENCE_FIELD: answer[PREFERENCE_FIELD],
            "severity_tolerance": answer.get("severity_tolerance", 0),
            "helpfulness_tolerance": answer.get("helpfulness_tolerance", 0),
        }


class ResolvedReviewFilterForm(forms.Form):
    """Filters of the resolved-review list; the campaign and reviewer choices come from the
    view (campaigns the user may see, users who reviewed)."""

    campaign = forms.ChoiceField(required=False)
    reviewer = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    resolution = forms.ChoiceField(
        choices=[("", "Any outcome"), *Review.Resolution.choices], required=False, label="Outcome"
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, campaigns: Any = (), reviewers: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["campaign"].choices = [("", "Every campaign")] + [  # type: ignore[attr-defined]
            (campaign.slug, campaign.name) for campaign in campaigns
        ]
        self.fields["reviewer"].choices = [("", "Every reviewer")] + [  # type: ignore[attr-defined]
            (user.pk, user.get_username()) for user in reviewers
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "must not be before the From date")
        return cleaned
