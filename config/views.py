"""Site-wide views: home, sign-in and health."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .roles import Role, user_roles

LOGIN_ATTEMPTS_PER_WINDOW = 10
LOGIN_WINDOW_SECONDS = 60


def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it starts its day on."""
    roles = user_roles(request.user)
    for role, url_name in (
        (Role.ADMIN, "labeling:campaign_list"),
        (Role.RESEARCHER, "labeling:campaign_list"),
        (Role.REVIEWER, "labeling:review_queue"),
        (Role.ANNOTATOR, "labeling:my_work"),
    ):
        if role in roles:
            try:
                return redirect(url_name)
            except NoReverseMatch:  # that part of the app is not installed yet
                continue
    return render(request, "home.html", {"roles": sorted(roles)})


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    """Django's login view with a simple per-address throttle against password guessing."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = f"login-attempts:{request.META.get('REMOTE_ADDR', '')}"
        attempts = cache.get_or_set(key, 0, LOGIN_WINDOW_SECONDS) or 0
        if attempts >= LOGIN_ATTEMPTS_PER_WINDOW:
            response = render(
                request,
                self.template_name,
                {"form": self.get_form(), "throttled": True},
                status=429,
            )
            response["Retry-After"] = str(LOGIN_WINDOW_SECONDS)
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code != 302:
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, LOGIN_WINDOW_SECONDS)
        return response


def broker_status() -> tuple[bool, str]:
    """Can we reach the Celery broker? Opens a real connection with a short timeout."""
    from .celery import app

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
