"""The navigation bar and each role's start page, gathered from the installed apps.

Accounts knows no other app: each app's ``AppConfig`` declares the entries it contributes
(``navigation``) and the page a role starts on (``start_pages``), so adding an app never
means editing this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple

from django.apps import apps
from django.http import HttpRequest
from django.urls import reverse

from .roles import Role, user_roles


class NavigationEntry(NamedTuple):
    """One link of the navigation bar: shown to users holding one of ``roles``."""

    label: str
    url_name: str
    roles: tuple[str, ...]
    position: int = 0


# A user holding several roles starts on the page of the first one in this order.
START_PAGE_PRECEDENCE = (Role.ADMIN, Role.RESEARCHER, Role.REVIEWER, Role.ANNOTATOR)


@lru_cache(maxsize=1)
def navigation_entries() -> tuple[NavigationEntry, ...]:
    """Every app's entries, in bar order (``position``, then app order)."""
    entries = [
        entry for config in apps.get_app_configs() for entry in getattr(config, "navigation", ())
    ]
    return tuple(sorted(entries, key=lambda entry: entry.position))


@lru_cache(maxsize=1)
def start_pages() -> Mapping[str, str]:
    """Role → url name of the page it starts on; the first app to name a role wins."""
    pages: dict[str, str] = {}
    for config in apps.get_app_configs():
        for role, url_name in getattr(config, "start_pages", {}).items():
            pages.setdefault(str(role), url_name)
    return pages


def start_page_for(roles: frozenset[str]) -> str | None:
    """The url name a user holding ``roles`` lands on, or None (no role, or no app for it)."""
    pages = start_pages()
    for role in START_PAGE_PRECEDENCE:
        if role in roles and role in pages:
            return pages[role]
    return None


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the navigation entries this user may use."""
    roles = user_roles(request.user)
    items = [
        {"label": entry.label, "url": reverse(entry.url_name)}
        for entry in navigation_entries()
        if roles & set(entry.roles)
    ]
    return {"nav_items": items, "user_roles": sorted(roles)}
