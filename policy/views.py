"""Pages of the policy app: the admins' taxonomy editor and everyone's rubric and versions.

Every write goes through ``policy.services``. htmx requests get the partial they target;
plain form posts get a redirect (or the page again, with the errors, status 422).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import role_required
from accounts.roles import ALL_ROLES, Role, has_role
from presentation.htmx import HtmxHttpRequest

from . import selectors, services
from .document import FORMATS, PolicyError, dump_document, guess_format, parse_document
from .forms import (
    CategoryAddForm,
    CategoryEditForm,
    CategoryMoveForm,
    CategoryRenameForm,
    ImportForm,
    MappingForm,
    PublishForm,
    RubricForm,
    add_policy_errors,
    lines,
)
from .history import readable_history
from .models import Category, PolicyVersion
from .rubric import SEVERITY_LEVELS

UNPROCESSABLE = 422
admin_required = role_required(Role.ADMIN)
reader_required = role_required(*ALL_ROLES)


# --- helpers ---------------------------------------------------------------------------------


def _category_by_path(path: str, field: str = "parent") -> Category | None:
    """The category at ``path``; empty means the top level; unknown is bad input."""
    path = (path or "").strip().strip("/")
    if not path:
        return None
    category = Category.objects.filter(path=path).first()
    if category is None:
        raise PolicyError.single(field, f"unknown parent {path!r}")
    return category


def _editor_context(**extra: Any) -> dict[str, Any]:
    working = selectors.working_policy()
    context: dict[str, Any] = {
        "tree": selectors.taxonomy_tree(),
        "working": working,
        "mapping_form": MappingForm(initial=working.severity_to_safety),
        "publish_form": PublishForm(),
        "changes": selectors.unpublished_changes(),
        "versions": selectors.version_list()[:10],
        "history": readable_history(selectors.policy_history(15)),
        "severity_levels": SEVERITY_LEVELS,
    }
    context.update(extra)
    return context


def _tree_response(
    request: HtmxHttpRequest, *, error: PolicyError | None = None, notice: str = ""
) -> HttpResponse:
    """After an edit: the tree partial (plus the unpublished-changes panel, out of band)."""
    if not request.htmx:
        if error is not None:
            for field, reason in error.errors:
                messages.error(request, f"{field}: {reason}")
        elif notice:
            messages.success(request, notice)
        return redirect("policy:taxonomy")
    context = _editor_context(tree_errors=error.errors if error else [], notice=notice)
    html = render_to_string("policy/taxonomy.html#tree", context, request=request)
    html += render_to_string("policy/taxonomy.html#changes_oob", context, request=request)
    return HttpResponse(html, status=UNPROCESSABLE if error else 200)


# --- the editor --------------------------------------------------------------------------------


@admin_required
@require_GET
def taxonomy(request: HttpRequest) -> HttpResponse:
    """The taxonomy editor: the working tree, the mapping, unpublished changes, publish."""
    return render(request, "policy/taxonomy.html", _editor_context())


@admin_required
@require_POST
def category_add(request: HtmxHttpRequest) -> HttpResponse:
    form = CategoryAddForm(request.POST)
    if not form.is_valid():
        return _tree_response(
            request,
            error=PolicyError(
                (field, " ".join(str(e) for e in errs)) for field, errs in form.errors.items()
            ),
        )
    try:
        parent = _category_by_path(form.cleaned_data["parent"])
        category = services.category_create(
            user=request.user,
            parent=parent,
            slug=form.cleaned_data["slug"],
            name=form.cleaned_data["name"],
        )
    except PolicyError as error:
        return _tree_response(request, error=error)
    return _tree_response(request, notice=f"Added {category.path}.")


@admin_required
@require_http_methods(["GET", "POST"])
def category_rename(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: the in-place rename form (htmx). POST: rename, answer with the tree."""
    category = get_object_or_404(Category, pk=pk)
    if request.method == "GET":
        if not request.htmx:
            return redirect("policy:category_detail", pk=pk)
        return render(request, "policy/taxonomy.html#rename_form", {"category": category})
    form = CategoryRenameForm(request.POST)
    form.is_valid()
    try:
        category = services.category_update(
            user=request.user,
            category=category,
            # A field left out is unchanged; a field sent empty is an error ("must not be empty").
            name=form.cleaned_data.get("name", "") if "name" in request.POST else None,
            slug=form.cleaned_data.get("slug", "") if "slug" in request.POST else None,
        )
    except PolicyError as error:
        return _tree_response(request, error=error)
    return _tree_response(request, notice=f"Renamed {category.path}.")


@admin_required
@require_POST
def category_move(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(Category, pk=pk)
    form = CategoryMoveForm(request.POST)
    form.is_valid()
    try:
        parent = _category_by_path(form.cleaned_data.get("parent", ""))
        category = services.category_move(user=request.user, category=category, parent=parent)
    except PolicyError as error:
        return _tree_response(request, error=error)
    return _tree_response(request, notice=f"Moved to {category.path}.")


@admin_required
@require_POST
def category_reorder(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(Category, pk=pk)
    direction = request.POST.get("direction")
    if direction not in {"up", "down"}:
        return _tree_response(
            request, error=PolicyError.single("direction", "must be 'up' or 'down'")
        )
    siblings = list(Category.objects.filter(parent_id=category.parent_id).order_by("order", "slug"))
    index = next(i for i, sibling in enumerate(siblings) if sibling.pk == category.pk)
    position = index - 1 if direction == "up" else index + 1
    services.category_reorder(user=request.user, category=category, position=position)
    return _tree_response(request)


@admin_required
@require_POST
def category_active(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(Category, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.category_set_active(user=request.user, category=category, active=active)
    except PolicyError as error:
        return _tree_response(request, error=error)
    verb = "Activated" if active else "Deactivated"
    return _tree_response(request, notice=f"{verb} {category.path}.")


@admin_required
@require_POST
def category_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(Category, pk=pk)
    path = category.path
    try:
        services.category_delete(user=request.user, category=category)
    except PolicyError as error:
        return _tree_response(request, error=error)
    return _tree_response(request, notice=f"Deleted {path}.")


@admin_required
@require_http_methods(["GET", "POST"])
def category_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One category: every text edited in place, and its history."""
    category = get_object_or_404(Category.objects.select_related("parent"), pk=pk)
    status = 200
    saved = False
    if request.method == "POST":
        form = CategoryEditForm(request.POST)
        if form.is_valid():
            try:
                category = services.category_update(
                    user=request.user,
                    category=category,
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"],
                    description=form.cleaned_data["description"],
                    guidance=form.guidance(),
                    examples_acceptable=lines(form.cleaned_data["examples_acceptable"]),
                    examples_unacceptable=lines(form.cleaned_data["examples_unacceptable"]),
                )
                saved = True
            except PolicyError as error:
                add_policy_errors(form, error)
        if not form.errors and not request.htmx:
            messages.success(request, "Saved.")
            return redirect("policy:category_detail", pk=pk)
        if form.errors:
            status = UNPROCESSABLE
        else:
            form = CategoryEditForm(initial=CategoryEditForm.initial_for(category))
    else:
        form = CategoryEditForm(initial=CategoryEditForm.initial_for(category))
    context = {
        "category": category,
        "form": form,
        "saved": saved,
        "history": readable_history(selectors.category_history(category)),
        "children": category.children.order_by("order", "slug"),
    }
    if request.htmx and request.method == "POST":
        html = render_to_string("policy/category_detail.html#edit_form", context, request=request)
        html += render_to_string(
            "policy/category_detail.html#history_oob", context, request=request
        )
        return HttpResponse(html, status=status)
    return render(request, "policy/category_detail.html", context, status=status)


@admin_required
@require_POST
def mapping_edit(request: HtmxHttpRequest) -> HttpResponse:
    """The severity->safety mapping, validated (in [0, 1], none = 1.0, not increasing)."""
    form = MappingForm(request.POST)
    saved = False
    if form.is_valid():
        try:
            services.working_policy_update(user=request.user, severity_to_safety=form.mapping())
            saved = True
        except PolicyError as error:
            add_policy_errors(form, error)
    if not request.htmx:
        if saved:
            messages.success(request, "Mapping saved.")
            return redirect("policy:taxonomy")
        return render(
            request,
            "policy/taxonomy.html",
            _editor_context(mapping_form=form),
            status=UNPROCESSABLE,
        )
    context = _editor_context(mapping_form=form, mapping_saved=saved)
    html = render_to_string("policy/taxonomy.html#mapping", context, request=request)
    html += render_to_string("policy/taxonomy.html#changes_oob", context, request=request)
    return HttpResponse(html, status=200 if saved else UNPROCESSABLE)


@admin_required
@require_http_methods(["GET", "POST"])
def rubric_edit(request: HttpRequest) -> HttpResponse:
    """The working rubric text and the level descriptions."""
    working = selectors.working_policy()
    if request.method == "POST":
        form = RubricForm(request.POST)
        if form.is_valid():
            try:
                services.working_policy_update(
                    user=request.user, rubric=form.cleaned_data["rubric"], levels=form.levels()
                )
                messages.success(request, "Rubric saved.")
                return redirect("policy:rubric_edit")
            except PolicyError as error:
                add_policy_errors(form, error)
        return render(request, "policy/rubric_edit.html", {"form": form}, status=UNPROCESSABLE)
    form = RubricForm(initial=RubricForm.initial_for(working))
    return render(request, "policy/rubric_edit.html", {"form": form})


def _next_version_number() -> int:
    try:
        return selectors.latest_version().number + 1
    except PolicyVersion.DoesNotExist:
        return 1


@admin_required
@require_http_methods(["GET", "POST"])
def publish(request: HttpRequest) -> HttpResponse:
    """GET: the confirmation step (what the new version changes, the notes, one button).
    POST: publish the working policy as the next version."""
    if request.method == "GET":
        form = PublishForm(initial={"notes": request.GET.get("notes", "")})
        return render(
            request,
            "policy/publish_confirm.html",
            {
                "form": form,
                "number": _next_version_number(),
                "diff": selectors.unpublished_changes(),
                "texts": selectors.unpublished_text_changes(),
            },
        )
    form = PublishForm(request.POST)
    form.is_valid()
    try:
        version = services.policy_publish(
            user=request.user, notes=form.cleaned_data.get("notes", "").strip()
        )
    except PolicyError as error:
        add_policy_errors(form, error)
        return render(
            request,
            "policy/taxonomy.html",
            _editor_context(publish_form=form),
            status=UNPROCESSABLE,
        )
    messages.success(request, f"Published version {version.number}.")
    return redirect("policy:version_detail", number=version.number)


@admin_required
@require_GET
def unpublished(request: HttpRequest) -> HttpResponse:
    """The diff from the latest version to the working policy."""
    try:
        base: PolicyVersion | None = selectors.latest_version()
    except PolicyVersion.DoesNotExist:
        base = None
    return render(
        request,
        "policy/diff.html",
        {
            "diff": selectors.unpublished_changes(),
            "texts": selectors.unpublished_text_changes(),
            "old": base,
            "new": None,
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def import_view(request: HttpRequest) -> HttpResponse:
    """Upload a JSON or YAML taxonomy; it replaces the working policy after validation."""
    errors: list[tuple[str, str]] = []
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            file_format = form.cleaned_data["format"] or guess_format(upload.name)
            try:
                if file_format is None:
                    raise PolicyError.single(
                        "format", "cannot tell from the file name; choose JSON or YAML"
                    )
                document = parse_document(upload.read(), file_format)
                result = services.policy_import(user=request.user, document=document)
            except PolicyError as error:
                errors = error.errors
            else:
                messages.success(
                    request,
                    f"Imported {result.categories} categories into the working taxonomy. "
                    "Publish to make them a version.",
                )
                return redirect("policy:taxonomy")
        status = UNPROCESSABLE
    else:
        form = ImportForm()
        status = 200
    return render(
        request, "policy/import.html", {"form": form, "import_errors": errors}, status=status
    )


# --- read-only pages for every role --------------------------------------------------------


@reader_required
@require_GET
def export_view(request: HttpRequest) -> HttpResponse:
    """Download a version (every role) or the working policy (admins) as JSON or YAML."""
    file_format = request.GET.get("format", "json")
    if file_format not in FORMATS:
        return HttpResponseBadRequest("format: must be json or yaml")
    raw_version = request.GET.get("version", "")
    if raw_version in {"", "working"}:
        if not has_role(request.user, Role.ADMIN):
            return HttpResponse("Only admins may export the working taxonomy.", status=403)
        version = None
    else:
        try:
            version = int(raw_version)
        except ValueError:
            return HttpResponseBadRequest("version: must be a version number")
        if not PolicyVersion.objects.filter(number=version).exists():
            raise Http404("No such version")
    content = dump_document(selectors.export_for(version), file_format)
    name = f"policy-{'working' if version is None else f'v{version}'}.{file_format}"
    content_type = "application/json" if file_format == "json" else "application/yaml"
    response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@reader_required
@require_GET
def version_list(request: HttpRequest) -> HttpResponse:
    versions = list(selectors.version_list())
    return render(request, "policy/version_list.html", {"versions": versions})


@reader_required
@require_GET
def version_detail(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(PolicyVersion.objects.select_related("published_by"), number=number)
    return render(
        request,
        "policy/version_detail.html",
        {
            "version": version,
            "categories": selectors.snapshot_tree(version.snapshot),
            "mapping": version.severity_to_safety,
            "leaf_count": len(version.leaf_paths()),
        },
    )


def _rubric_page(request: HttpRequest, version: PolicyVersion) -> HttpResponse:
    categories = [
        {**entry, "guidance_context": selectors.category_guidance(version, entry["path"])}
        for entry in selectors.snapshot_tree(version.snapshot)
        if entry.get("active", True)
    ]
    return render(
        request,
        "policy/rubric.html",
        {
            "version": version,
            "categories": categories,
            "mapping_rows": [
                (level, version.severity_to_safety.get(level)) for level in SEVERITY_LEVELS
            ],
            "levels": version.levels,
            "is_latest": version.number == selectors.latest_version().number,
        },
    )


@reader_required
@require_GET
def rubric_current(request: HttpRequest) -> HttpResponse:
    """The rubric of the latest published version (read-only)."""
    try:
        version = selectors.latest_version()
    except PolicyVersion.DoesNotExist as error:
        raise Http404("No policy version has been published yet.") from error
    return _rubric_page(request, version)


@reader_required
@require_GET
def rubric_version(request: HttpRequest, number: int) -> HttpResponse:
    version = get_object_or_404(PolicyVersion, number=number)
    return _rubric_page(request, version)


@reader_required
@require_GET
def guidance(request: HttpRequest, number: int) -> HttpResponse:
    """The guidance partial for one category (``?path=``), for pages that load it with htmx."""
    version = get_object_or_404(PolicyVersion, number=number)
    context = {"guidance": selectors.category_guidance(version, request.GET.get("path", ""))}
    return render(request, "policy/includes/guidance.html", context)


@reader_required
@require_GET
def diff(request: HttpRequest, old: int, new: int) -> HttpResponse:
    """What changed between two versions."""
    old_version = get_object_or_404(PolicyVersion, number=old)
    new_version = get_object_or_404(PolicyVersion, number=new)
    return render(
        request,
        "policy/diff.html",
        {
            "diff": selectors.version_diff(old, new),
            "texts": selectors.version_text_changes(old, new),
            "old": old_version,
            "new": new_version,
        },
    )


@reader_required
@require_GET
def diff_pick(request: HttpRequest) -> HttpResponse:
    """The version picker's target: ``?old=1&new=2`` redirects to the diff page."""
    try:
        old = int(request.GET.get("old", ""))
        new = int(request.GET.get("new", ""))
    except ValueError:
        messages.error(request, "Choose two versions to compare.")
        return redirect("policy:version_list")
    return redirect(reverse("policy:diff", kwargs={"old": old, "new": new}))
