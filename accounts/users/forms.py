"""Forms of the user pages. They parse; the services check the rules and write."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.roles import ALL_ROLES

from .memberships import membership_kinds

ROLE_CHOICES = [(str(role), str(role).capitalize()) for role in ALL_ROLES]
ACTIVE_CHOICES = [("", "Active and inactive"), ("active", "Active"), ("inactive", "Inactive")]


class UserFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=150)
    role = forms.ChoiceField(required=False, choices=[("", "Any role"), *ROLE_CHOICES])
    active = forms.ChoiceField(required=False, choices=ACTIVE_CHOICES, label="State")


def _membership_field(kind: Any) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=kind.choices(),
        required=False,
        label=kind.label,
        help_text=kind.note,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "membership-choices"}),
    )


class _MembershipsMixin:
    fields: dict[str, Any]

    def add_membership_fields(self) -> None:
        for kind in membership_kinds():
            self.fields[f"membership_{kind.key}"] = _membership_field(kind)

    def memberships(self, cleaned: dict[str, Any]) -> dict[str, list[int]]:
        return {
            kind.key: [obj.pk for obj in cleaned.get(f"membership_{kind.key}") or []]
            for kind in membership_kinds()
        }


class UserCreateForm(_MembershipsMixin, forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False, label="E-mail")
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    password_choice = forms.ChoiceField(
        choices=[("generate", "Generate one (shown once)"), ("set", "Set it here")],
        initial="generate",
        widget=forms.RadioSelect,
        label="Initial password",
    )
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not all digits, not a common password.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_membership_fields()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password_choice") == "set" and not cleaned.get("password"):
            self.add_error("password", "Type the password, or let one be generated.")
        return cleaned

    def chosen_password(self) -> str | None:
        if self.cleaned_data.get("password_choice") == "set":
            return str(self.cleaned_data["password"])
        return None


class UserEditForm(_MembershipsMixin, forms.Form):
    email = forms.EmailField(required=False, label="E-mail")
    roles = forms.MultipleChoiceField(
        choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_membership_fields()


class PasswordResetForm(forms.Form):
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to generate one (shown once).",
        label="New password",
    )
