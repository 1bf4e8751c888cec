"""Role checks for views (``role_required``) and for the API (``role_permission``)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.permissions import BasePermission

from .roles import has_role


def role_required(*roles: str) -> Any:
    """View decorator: signed-in users without one of ``roles`` get 403 (anonymous: log in)."""

    def decorator(view: Any) -> Any:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def role_permission(*roles: str) -> type:
    """A DRF permission class allowing only users that hold one of ``roles``."""

    class HasRole(BasePermission):
        message = f"This needs one of the roles: {', '.join(roles)}."

        def has_permission(self, request: Any, view: Any) -> bool:
            return bool(request.user and has_role(request.user, *roles))

    HasRole.__name__ = "HasRole_" + "_".join(roles)
    return HasRole
