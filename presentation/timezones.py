"""The viewer's time zone: every page shows times in it, in one format.

The browser names its zone (``Intl``) in the ``graylab_tz`` cookie, set by
``static/js/graylab.js``; :class:`ViewerTimeZoneMiddleware` activates it for the request, so
Django's ``localtime`` and the ``when`` filter (``{% load timestamps %}``) use it. Without the
cookie, or with a name that is no IANA zone, times show in ``TIME_ZONE`` (UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import lru_cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.dateformat import format as date_format

TIME_ZONE_COOKIE = "graylab_tz"
# Zone names are short ("America/Argentina/ComodRivadavia" is the longest); more is not one.
TIME_ZONE_NAME_MAX_LENGTH = 64
# One format everywhere: ISO date, 24-hour time, the zone's abbreviation.
DISPLAY_FORMAT = "Y-m-d H:i T"


@lru_cache(maxsize=256)
def zone_named(name: str) -> tzinfo | None:
    """The zone called ``name``, or None when it is no zone this server knows."""
    if not name or len(name) > TIME_ZONE_NAME_MAX_LENGTH or name.startswith(("/", ".")):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class ViewerTimeZoneMiddleware:
    """Activates the time zone the viewer's browser reported, for this request only."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # The script stores the name URL-encoded ("Europe%2FBerlin"): cookies hold no slash.
        zone = zone_named(unquote(request.COOKIES.get(TIME_ZONE_COOKIE, "")))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def display_time(value: datetime) -> str:
    """``value`` in the active time zone, in the one display format."""
    return date_format(timezone.localtime(value), DISPLAY_FORMAT)
