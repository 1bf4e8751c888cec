"""Sign-in and the home page, which sends each role to the page it starts its day on."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator

from .navigation import start_page_for
from .roles import user_roles

LOGIN_ATTEMPTS_PER_WINDOW = 10
LOGIN_WINDOW_SECONDS = 60


def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it starts its day on."""
    roles = user_roles(request.user)
    start_page = start_page_for(roles)
    if start_page is not None:
        return redirect(start_page)
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
