"""Export pages: list, new (with a live preview of counts), detail (polling progress), download."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.permissions import role_required
from accounts.roles import Role, has_role
from labeling.broker import BrokerUnavailable
from presentation.htmx import HtmxHttpRequest

from . import selectors, services
from .api import download_response
from .forms import ExportForm
from .learnability import services as learnability_services

EXPORT_ROLES = (Role.RESEARCHER, Role.ADMIN)
# Who may open a pair's review page (the surprising pairs of a learnability report link there).
REVIEW_ROLES = (Role.REVIEWER, Role.ADMIN)


@role_required(*EXPORT_ROLES)
def export_list(request: HttpRequest) -> HttpResponse:
    """The exports the user may see, newest first."""
    exports = selectors.exports_for_user(request.user)[:200]
    return render(request, "exports/list.html", {"exports": exports})


@role_required(*EXPORT_ROLES)
@require_http_methods(["GET", "POST"])
def export_new(request: HttpRequest) -> HttpResponse:
    """The new-export form; a valid POST creates the export and goes to its page."""
    form = ExportForm(request.POST or None, initial=_initial(request))
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            export = services.export_create(user=request.user, data=form.spec_data())
        except ValidationError as error:
            form.add_spec_errors(getattr(error, "message_dict", {"__all__": error.messages}))
        except BrokerUnavailable as error:
            form.add_error(None, error.message)
            status = 503
        else:
            return redirect("exports:detail", export_id=export.id)
    return render(request, "exports/new.html", {"form": form}, status=status)


def _initial(request: HttpRequest) -> dict[str, object]:
    campaign = request.GET.get("campaign")
    return {"campaigns": [campaign]} if campaign else {}


@role_required(*EXPORT_ROLES)
@require_POST
def export_preview(request: HttpRequest) -> HttpResponse:
    """htmx partial: how many pairs qualify and how many each rule leaves out."""
    form = ExportForm(request.POST)
    preview = None
    if form.is_valid():
        try:
            preview = services.export_preview(data=form.spec_data())
        except ValidationError as error:
            form.add_spec_errors(getattr(error, "message_dict", {"__all__": error.messages}))
    return render(request, "exports/new.html#preview", {"form": form, "preview": preview})


@role_required(*EXPORT_ROLES)
@vary_on_headers("HX-Request")
def export_detail(request: HtmxHttpRequest, export_id: str) -> HttpResponse:
    """An export's settings, progress (polled while it runs) and result."""
    export = selectors.export_for_user(request.user, export_id)
    template = "exports/detail.html#status" if request.htmx else "exports/detail.html"
    return render(
        request,
        template,
        {"export": export, "can_review": has_role(request.user, *REVIEW_ROLES)},
    )


@role_required(*EXPORT_ROLES)
def export_learnability(request: HttpRequest, export_id: str) -> HttpResponse:
    """htmx partial: the export's learnability report, or "computing…" while it is."""
    export = selectors.export_for_user(request.user, export_id)
    return render(
        request,
        "exports/detail.html#learnability",
        {"export": export, "can_review": has_role(request.user, *REVIEW_ROLES)},
    )


@role_required(*EXPORT_ROLES)
@require_POST
def estimate_new(request: HttpRequest) -> HttpResponse:
    """htmx partial: start a learnability estimate of the form's selection on a worker."""
    form = ExportForm(request.POST)
    context: dict[str, object] = {"can_review": has_role(request.user, *REVIEW_ROLES)}
    status = 200
    if not form.is_valid():
        context["estimate_errors"] = {
            field: [str(reason) for reason in reasons] for field, reasons in form.errors.items()
        }
    else:
        try:
            context["estimate"] = learnability_services.learnability_estimate_create(
                user=request.user, data=form.spec_data()
            )
        except ValidationError as error:
            context["estimate_errors"] = getattr(
                error, "message_dict", {"selection": error.messages}
            )
        except BrokerUnavailable as error:
            context["estimate_errors"] = {"broker": [error.message]}
            status = 503
    return render(request, "exports/new.html#estimate", context, status=status)


@role_required(*EXPORT_ROLES)
def estimate_detail(request: HttpRequest, estimate_id: str) -> HttpResponse:
    """htmx partial: an estimate, polled while a worker computes it."""
    estimate = selectors.estimate_for_user(request.user, estimate_id)
    return render(
        request,
        "exports/new.html#estimate",
        {"estimate": estimate, "can_review": has_role(request.user, *REVIEW_ROLES)},
    )


@role_required(*EXPORT_ROLES)
def export_download(request: HttpRequest, export_id: str) -> HttpResponseBase:
    """The archive, only to who may see the export; the path comes from the id, never input."""
    export = selectors.export_for_user(request.user, export_id)
    return download_response(export)
