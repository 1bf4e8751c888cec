"""Forms of graders: create or edit one, pick an item to preview, start a grading run."""

from __future__ import annotations

from typing import Any

from django import forms

from policy.models import PolicyVersion

from ..models import Campaign, GraderVersion, ModelEndpoint
from ..models.grading import GRADER_SAMPLES_MAX
from .services import MAX_TOKENS_MAX, SEED_MAX, SEED_MIN
from .templates import CANDIDATE, DEFAULT_TEMPLATES, PAIR, template_problems


class PolicyVersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"Version {obj.number}"


class GraderForm(forms.Form):
    """A grader's settings; on edit the name stays (it is how scripts name the grader)."""

    name = forms.SlugField(max_length=80, help_text="letters, digits, - and _")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    endpoint = forms.ModelChoiceField(queryset=ModelEndpoint.objects.order_by("name"))
    model = forms.CharField(
        max_length=200, required=False, help_text="blank: the endpoint's own model"
    )
    policy_version = PolicyVersionChoiceField(queryset=PolicyVersion.objects.order_by("-number"))
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0)
    samples = forms.IntegerField(
        min_value=1,
        max_value=GRADER_SAMPLES_MAX,
        initial=1,
        help_text="answers per item; their agreement is the grade's confidence",
    )
    max_tokens = forms.IntegerField(min_value=1, max_value=MAX_TOKENS_MAX, initial=512)
    seed = forms.IntegerField(initial=0, min_value=SEED_MIN, max_value=SEED_MAX)
    candidate_template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        initial=DEFAULT_TEMPLATES[CANDIDATE],
        strip=False,
    )
    pair_template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        initial=DEFAULT_TEMPLATES[PAIR],
        strip=False,
    )

    def __init__(self, *args: Any, version: GraderVersion | None = None, **kwargs: Any) -> None:
        if version is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": version.grader.name,
                    "description": version.grader.description,
                    "endpoint": version.endpoint,
                    "model": version.model,
                    "policy_version": version.policy_version,
                    "temperature": version.temperature,
                    "samples": version.samples,
                    "max_tokens": version.max_tokens,
                    "seed": version.seed,
                    "candidate_template": version.candidate_template,
                    "pair_template": version.pair_template,
                },
            )
        super().__init__(*args, **kwargs)
        if version is not None:
            self.fields["name"].disabled = True
        else:
            self.fields["policy_version"].initial = PolicyVersion.objects.order_by(
                "-number"
            ).first()

    def clean_candidate_template(self) -> str:
        return self._template("candidate_template", CANDIDATE)

    def clean_pair_template(self) -> str:
        return self._template("pair_template", PAIR)

    def _template(self, field_name: str, kind: str) -> str:
        text = str(self.cleaned_data.get(field_name) or "")
        problems = template_problems(text, kind)
        if problems:
            raise forms.ValidationError(problems)
        return text


class PreviewForm(forms.Form):
    """One item to preview: a candidate or a pair, by id, with the grader version to use."""

    kind = forms.ChoiceField(choices=[(CANDIDATE, "Candidate"), (PAIR, "Pair (both orders)")])
    item_id = forms.IntegerField(min_value=1, max_value=2**63 - 1, label="Id")
    version = forms.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, help_text="blank: the newest"
    )


class PreviewCampaignForm(forms.Form):
    """The campaign whose first candidates and pairs are offered to pick from."""

    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"), to_field_name="slug", required=False
    )


LIMIT_MAX = 2**31 - 1
"""The largest limit the database stores."""


class GradingRunForm(forms.Form):
    """Grade a campaign with the grader's current version: its candidates, pairs, or both."""

    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"), to_field_name="slug"
    )
    candidates = forms.BooleanField(required=False, initial=True, label="Grade each candidate")
    pairs = forms.BooleanField(
        required=False, initial=True, label="Grade each pair (in both orders)"
    )
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=LIMIT_MAX,
        help_text="only the first N candidates and N pairs",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("candidates") or data.get("pairs")):
            raise forms.ValidationError("Grade candidates, pairs, or both.")
        return data


class RegradeForm(forms.Form):
    """Re-grade what the current version graded, under a newer published policy version."""

    policy_version = forms.TypedChoiceField(coerce=int, label="Policy version")
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="every campaign it graded",
    )
    grade_missing_categories = forms.BooleanField(
        required=False,
        label="Re-grade the rest if the policy version lacks some items' categories",
        help_text="those items then fail, each naming its category",
    )

    def __init__(self, *args: Any, newer: list[PolicyVersion], **kwargs: Any) -> None:
        # Its own ids: the grader's page holds the settings and run forms' fields of these names.
        kwargs.setdefault("auto_id", "id_regrade_%s")
        super().__init__(*args, **kwargs)
        field = self.fields["policy_version"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(version.number, f"Version {version.number}") for version in newer]
        if newer:
            field.initial = newer[0].number
