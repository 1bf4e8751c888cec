"""One time format on every page, in the viewer's time zone (the browser's, by cookie)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from presentation.timezones import TIME_ZONE_COOKIE, zone_named

MOMENT = datetime(2026, 1, 15, 13, 5, 59, tzinfo=UTC)


def render(value: object) -> str:
    return Template("{% load timestamps %}{{ value|when }}|{{ value|when_text }}").render(
        Context({"value": value})
    )


def test_when_renders_one_format_in_the_active_zone() -> None:
    assert render(MOMENT) == (
        '<time datetime="2026-01-15T13:05:59Z">2026-01-15 13:05 UTC</time>|2026-01-15 13:05 UTC'
    )
    with timezone.override(zone_named("Asia/Tokyo")):
        assert render(MOMENT).endswith("|2026-01-15 22:05 JST")
        assert 'datetime="2026-01-15T13:05:59Z"' in render(MOMENT)  # machine time stays UTC
    assert render(None) == "—|—"
    assert render("2026-01-15T13:05:59+00:00").endswith("|2026-01-15 13:05 UTC")


@pytest.mark.parametrize(
    "name", ["", "Not/AZone", "../../etc/passwd", "/etc/localtime", "x" * 200, "UTC\x00"]
)
def test_unknown_or_hostile_zone_names_are_ignored(name: str) -> None:
    assert zone_named(name) is None


@pytest.mark.django_db
def test_pages_show_times_in_the_zone_the_browser_reported(personas: dict[str, User]) -> None:
    alice = personas["alice"]
    User.objects.filter(pk=alice.pk).update(date_joined=MOMENT, last_login=MOMENT)
    client = Client()
    client.force_login(alice)
    User.objects.filter(pk=alice.pk).update(last_login=MOMENT)
    client.cookies[TIME_ZONE_COOKIE] = "America%2FNew_York"
    html = client.get(f"/users/{alice.pk}/").content.decode()
    assert "2026-01-15 08:05 EST" in html
    client.cookies[TIME_ZONE_COOKIE] = "Mars%2FOlympus"
    html = client.get(f"/users/{alice.pk}/").content.decode()
    assert "2026-01-15 13:05 UTC" in html
    # The zone is the request's own: the next request without a cookie is back in UTC.
    assert timezone.get_current_timezone_name() == "UTC"
