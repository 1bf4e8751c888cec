"""The memberships an account can hold, declared by the apps that own them.

Accounts knows no other app: an app's ``AppConfig`` lists the many-to-many fields to users it
owns (``user_memberships``), e.g. campaign members, and the user pages offer them by name.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from django.apps import apps
from django.db.models import Model, QuerySet


class MembershipKind(NamedTuple):
    """A many-to-many field ``field`` of ``model`` ("app_label.Model") holding users."""

    key: str
    label: str
    model: str
    field: str
    ordering: tuple[str, ...] = ("pk",)
    note: str = ""

    def model_class(self) -> type[Model]:
        return apps.get_model(self.model)

    def choices(self) -> QuerySet[Any]:
        """Every object a user may be a member of."""
        return self.model_class()._default_manager.order_by(*self.ordering)

    def of(self, user: Any) -> QuerySet[Any]:
        """The objects ``user`` is a member of."""
        return self.choices().filter(**{self.field: user})


@lru_cache(maxsize=1)
def membership_kinds() -> tuple[MembershipKind, ...]:
    """Every app's membership kinds, in app order."""
    return tuple(
        kind
        for config in apps.get_app_configs()
        for kind in getattr(config, "user_memberships", ())
    )


def membership_kind(key: str) -> MembershipKind | None:
    return next((kind for kind in membership_kinds() if kind.key == key), None)
