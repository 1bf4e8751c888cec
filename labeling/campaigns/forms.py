"""The campaign form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from policy.models import PolicyVersion

from ..models import Campaign, Grader

# Settings a form may leave out (a client that predates them): they keep their current value.
KEPT_WHEN_LEFT_OUT = ("routing", "accept_consistency", "spot_check_share")


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
            "show_gold_score",
            "routing",
            "routing_grader",
            "human_budget",
            "accept_confidence",
            "accept_consistency",
            "spot_check_share",
        )
        widgets = {
            "instructions": forms.Textarea(attrs={"rows": 6}),
            "accept_confidence": forms.NumberInput(attrs={"step": "0.01"}),
            "accept_consistency": forms.NumberInput(attrs={"step": "0.01"}),
            "spot_check_share": forms.NumberInput(attrs={"step": "0.01"}),
        }

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
        for name in KEPT_WHEN_LEFT_OUT:
            self.fields[name].required = False
        self.fields["routing_grader"].queryset = Grader.objects.order_by("name")  # type: ignore[attr-defined]
        if not self.instance.pk:
            latest = PolicyVersion.objects.order_by("-number").first()
            self.fields["policy_version"].initial = latest
        else:
            self.fields["slug"].disabled = True
            if self.instance.status != Campaign.Status.DRAFT:
                self.fields["policy_version"].disabled = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in KEPT_WHEN_LEFT_OUT:
            if cleaned.get(name) in (None, ""):
                cleaned[name] = getattr(self.instance, name)
        return cleaned
