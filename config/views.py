"""Site-wide health: does the database and the broker answer?"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app


def broker_status() -> tuple[bool, str]:
    """Can we reach the Celery broker? Opens a real connection with a short timeout."""
    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            if not settings.USES_EMBEDDED_BROKER:
                conn.default_channel  # noqa: B018 - forces a round trip to the broker
        return True, "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        return False, type(error).__name__


def database_status() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "down"
        return False, type(error).__name__


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker both answer, 503 otherwise."""
    database_ok, database_detail = database_status()
    broker_ok, broker_detail = broker_status()
    healthy = database_ok and broker_ok
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "database": database_detail,
            "broker": broker_detail,
        },
        status=200 if healthy else 503,
    )


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for ``/favicon.ico`` on pages that name no icon (the Django admin's)."""
    return HttpResponseRedirect(static("img/favicon.svg"))
