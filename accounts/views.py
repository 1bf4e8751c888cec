"""Sign-in and the home page, which sends each role to the page it starts its day on."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator

from .navigation import start_page_for
from .roles import user_roles
from .services import SignInThrottled

LOGIN_TEMPLATE = "registration/login.html"


def home(request: HttpRequest) -> HttpResponse:
    """Send each role to the page it starts its day on."""
    roles = user_roles(request.user)
    start_page = start_page_for(roles)
    if start_page is not None:
        return redirect(start_page)
    return render(request, "home.html", {"roles": sorted(roles)})


def _throttled_page(request: HttpRequest, throttled: SignInThrottled) -> HttpResponse:
    """The log-in page answering 429: the attempt was not checked; it says how long to wait."""
    username = request.POST.get("username", "")
    response = render(
        request,
        LOGIN_TEMPLATE,
        {
            # Unbound, so rendering it checks nothing: it only keeps the typed user name.
            "form": AuthenticationForm(request, initial={"username": username}),
            "throttled": throttled,
            "next": request.POST.get("next", request.GET.get("next", "")),
        },
        status=429,
    )
    response["Retry-After"] = str(throttled.retry_after)
    return response


def with_throttled_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap another sign-in view (the admin's): a throttled attempt gets the 429 log-in page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except SignInThrottled as throttled:
            return _throttled_page(request, throttled)

    return wrapped


@method_decorator(login_not_required, name="dispatch")
class LoginView(auth_views.LoginView):
    """Django's login view; the shared sign-in limits apply in the authentication backend."""

    template_name = LOGIN_TEMPLATE
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().post(request, *args, **kwargs)
        except SignInThrottled as throttled:
            return _throttled_page(request, throttled)
