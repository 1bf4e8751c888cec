"""The admins' user pages: list, create, one user (details, roles, memberships, active state,
password) with its change log. A generated password is shown once, in the answer to the POST
that made it, and never stored or logged in clear."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import role_required
from accounts.roles import Role

from . import selectors, services
from .forms import PasswordResetForm, UserCreateForm, UserEditForm, UserFilterForm
from .services import UserAdminError

PAGE_SIZE = 50
UNPROCESSABLE = 422
admin_required = role_required(Role.ADMIN)


def _add_errors(form: Any, error: UserAdminError) -> None:
    for field, reason in error.errors:
        form.add_error(field if field in form.fields else None, reason)


def _membership_form_field(key: str) -> str:
    return f"membership_{key}"


def _edit_form(user: Any, data: Any = None) -> UserEditForm:
    initial: dict[str, Any] = {"email": user.email, "roles": selectors.role_names(user)}
    for entry in selectors.user_memberships(user):
        initial[_membership_form_field(entry["kind"].key)] = entry["objects"]
    return UserEditForm(data, initial=initial)


def _detail(request: HttpRequest, user: Any, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "account": user,
        "roles": selectors.role_names(user),
        "memberships": selectors.user_memberships(user),
        "changes": selectors.user_changes(user),
        "edit_form": extra.pop("edit_form", None) or _edit_form(user),
        "password_form": extra.pop("password_form", None) or PasswordResetForm(),
        "is_self": user.pk == request.user.pk,
        **extra,
    }
    response = render(request, "accounts/users/detail.html", context, status=status)
    if context.get("generated_password"):
        response["Cache-Control"] = "no-store"
    return response


@admin_required
@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    form = UserFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    users = selectors.user_list(
        search=filters.get("q", ""), role=filters.get("role", ""), active=filters.get("active", "")
    )
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/users/list.html",
        {
            "form": form,
            "page": page,
            "rows": [{"user": user, "roles": selectors.role_names(user)} for user in page],
            "query": query.urlencode(),
        },
    )


@admin_required
@never_cache
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, outcome = services.user_create(
                by=request.user,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                roles=form.cleaned_data["roles"],
                password=form.chosen_password(),
                memberships=form.memberships(form.cleaned_data),
            )
        except UserAdminError as error:
            _add_errors(form, error)
        else:
            if outcome.generated is None:
                messages.success(request, f"Created {user.get_username()}.")
                return redirect("accounts:user_detail", pk=user.pk)
            return _detail(
                request,
                user,
                status=201,
                generated_password=outcome.generated,
                notice=f"Created {user.get_username()}.",
            )
    status = UNPROCESSABLE if request.method == "POST" else 200
    return render(request, "accounts/users/create.html", {"form": form}, status=status)


@admin_required
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the user's page. POST: save e-mail, roles and memberships."""
    user = get_object_or_404(get_user_model(), pk=pk)
    if request.method == "GET":
        return _detail(request, user)
    form = _edit_form(user, request.POST)
    if form.is_valid():
        try:
            services.user_update(
                by=request.user,
                user=user,
                email=form.cleaned_data["email"],
                roles=form.cleaned_data["roles"],
                memberships=form.memberships(form.cleaned_data),
            )
        except UserAdminError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Saved {user.get_username()}.")
            return redirect("accounts:user_detail", pk=user.pk)
    return _detail(request, user, status=UNPROCESSABLE, edit_form=form)


@admin_required
@require_POST
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.user_set_active(by=request.user, user=user, active=active)
    except UserAdminError as error:
        for _, reason in error.errors:
            messages.error(request, f"Not changed: {reason}.")
    else:
        verb = "Reactivated" if active else "Deactivated"
        messages.success(request, f"{verb} {user.get_username()}.")
    return redirect("accounts:user_detail", pk=user.pk)


@admin_required
@never_cache
@require_POST
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(get_user_model(), pk=pk)
    form = PasswordResetForm(request.POST)
    if form.is_valid():
        try:
            outcome = services.user_password_reset(
                by=request.user, user=user, password=form.cleaned_data["password"] or None
            )
        except UserAdminError as error:
            _add_errors(form, error)
        else:
            if outcome.generated is None:
                messages.success(request, f"New password set for {user.get_username()}.")
                return redirect("accounts:user_detail", pk=user.pk)
            return _detail(
                request,
                user,
                generated_password=outcome.generated,
                notice=f"New password generated for {user.get_username()}.",
            )
    return _detail(request, user, status=UNPROCESSABLE, password_form=form)
