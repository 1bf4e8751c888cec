"""The address a request comes from, as far as this server can trust it."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings

# IPv6 clients get a whole /64 each, so one is counted as its /64: else a single client could
# sign in from 2**64 different addresses.
IPV6_PREFIX = 64


def client_address(request: Any) -> str:
    """The client's address: ``REMOTE_ADDR``, or a trusted proxy header when one is set.

    With ``TRUSTED_PROXY_HEADER`` (e.g. ``X-Forwarded-For``) and ``TRUSTED_PROXY_COUNT`` N,
    the address is the Nth entry from the right: each trusted proxy appends the address it
    saw, and everything left of those entries is whatever the client chose to send. Without
    the setting the header is never read. IPv6 addresses come back as their /64 network.
    """
    meta = request.META
    address = meta.get("REMOTE_ADDR", "") or ""
    header = settings.TRUSTED_PROXY_HEADER
    if header:
        forwarded = meta.get("HTTP_" + header.upper().replace("-", "_"), "") or ""
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        count = settings.TRUSTED_PROXY_COUNT
        if len(hops) >= count and _parse(hops[-count]) is not None:
            address = hops[-count]
    return _canonical(address)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _canonical(text: str) -> str:
    parsed = _parse(text)
    if parsed is None:
        # A Unix socket gives no address: such requests share one count rather than none.
        return text[:100] or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)
