"""Pages of the annotation workflow: my work, the pair page (htmx), skip, autosave, edits.

Each view parses input, checks permission through the selectors, calls one service, and
renders. htmx requests get the ``pair`` partial, whose root (``#annotate-root``) is what the
form's ``hx-target`` replaces: submit answers with the next pair in the same request.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, cast

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import role_required
from labeling.models import Assignment, Campaign, Judgment
from policy.rubric import (
    CANONICAL_SIDES,
    FLAG_NOTE_FIELD,
    FLAG_NOTE_MAX_LENGTH,
    FLAGS_FIELD,
    HELPFULNESS_FIELD,
    HELPFULNESS_LABELS,
    PREFERENCE_FIELD,
    RATIONALE_FIELD,
    RATIONALE_MAX_LENGTH,
    RESPONSE_MODE_FIELD,
    SEVERITY_FIELD,
    SHOWN_PREFERENCE_LABELS,
    SHOWN_SIDES,
    SIDE_FIELDS,
    SKIP_REASON_MAX_LENGTH,
    SKIP_REASONS,
    Flag,
    ResponseMode,
    Severity,
    side_field,
)
from presentation.htmx import HtmxHttpRequest

from . import selectors, services
from .progress import annotator_progress
from .validation import JudgmentInvalid, time_on_task_clean

ANNOTATING_ROLES = selectors.ANNOTATING_ROLES
PAGE = "labeling/annotation/annotate.html"
RATING_FIELDS = "labeling/annotation/_rating_fields.html"
PROGRESS = "labeling/annotation/_progress.html"
# The query of an edit page opened by "Undo" on the pair page: saving goes back there.
FROM_ANNOTATE = "annotate"

# Keyboard layout: left-hand keys rate the left side, right-hand keys the right side;
# top row response mode, home row severity, bottom row helpfulness, digits preference/flags.
MODE_KEYS = {"left": "qwert", "right": "yuiop"}
SEVERITY_KEYS = {"left": "asdfg", "right": "hjkl;"}
HELPFULNESS_KEYS = {"left": "zxcv", "right": "bnm,"}
PREFERENCE_KEYS = "12345"
FLAG_KEYS = "6789"


def form_data(post: QueryDict) -> dict[str, Any]:
    """The flat form fields as the nested shape the validator and the API share."""
    return {
        **{
            side: {name: post.get(side_field(side, name)) for name in SIDE_FIELDS}
            for side in SHOWN_SIDES
        },
        PREFERENCE_FIELD: post.get(PREFERENCE_FIELD),
        RATIONALE_FIELD: post.get(RATIONALE_FIELD, ""),
        FLAGS_FIELD: post.getlist(FLAGS_FIELD),
        FLAG_NOTE_FIELD: post.get(FLAG_NOTE_FIELD, ""),
    }


def _options(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Everything the form needs per side, with current values and key hints."""
    sides = {}
    for side in SHOWN_SIDES:
        mode_name = side_field(side, RESPONSE_MODE_FIELD)
        severity_name = side_field(side, SEVERITY_FIELD)
        helpfulness_name = side_field(side, HELPFULNESS_FIELD)
        sides[side] = {
            "name": side,
            "fields": [
                {
                    "name": mode_name,
                    "label": "Response mode",
                    "error": errors.get(mode_name),
                    "choices": [
                        {"value": value, "label": label, "key": MODE_KEYS[side][index]}
                        for index, (value, label) in enumerate(ResponseMode.choices)
                    ],
                    "current": values.get(mode_name, ""),
                },
                {
                    "name": severity_name,
                    "label": "Severity",
                    "error": errors.get(severity_name),
                    "choices": [
                        {"value": value, "label": label, "key": SEVERITY_KEYS[side][index]}
                        for index, (value, label) in enumerate(Severity.choices)
                    ],
                    "current": values.get(severity_name, ""),
                },
                {
                    "name": helpfulness_name,
                    "label": "Helpfulness",
                    "error": errors.get(helpfulness_name),
                    "choices": [
                        {"value": str(level), "label": f"{level} {label}", "key": key}
                        for (level, label), key in zip(
                            HELPFULNESS_LABELS.items(), HELPFULNESS_KEYS[side], strict=True
                        )
                    ],
                    "current": str(values.get(helpfulness_name, "")),
                },
            ],
            "error": errors.get(f"{side}_non_field_errors"),
        }
    checked_flags = values.get("flags") or []
    return {
        "sides": sides,
        "preference": {
            "error": errors.get("preference"),
            "current": str(values.get("preference", "")),
            "choices": [
                {
                    "value": str(value),
                    "label": f"{value:+d} {label}" if value else f"0 {label}",
                    "key": key,
                }
                for (value, label), key in zip(
                    SHOWN_PREFERENCE_LABELS.items(), PREFERENCE_KEYS, strict=True
                )
            ],
        },
        "flags": [
            {"value": value, "label": label, "key": key, "checked": value in checked_flags}
            for (value, label), key in zip(Flag.choices, FLAG_KEYS, strict=True)
        ],
        "rationale": values.get("rationale", ""),
        "rationale_max": RATIONALE_MAX_LENGTH,
        "flag_note": values.get("flag_note", ""),
        "flag_note_max": FLAG_NOTE_MAX_LENGTH,
        "errors": errors,
    }


def rating_fields_html(values: dict[str, Any], errors: dict[str, str]) -> SafeString:
    """The rating form's fields. A fresh pair's form is the same for every pair, so that
    common case is rendered once per process (it is most of the page's template work)."""
    if not values and not errors:
        return _blank_rating_fields()
    return _safe(render_to_string(RATING_FIELDS, {"form": _options(values, errors)}))


@lru_cache(maxsize=1)
def _blank_rating_fields() -> SafeString:
    return _safe(render_to_string(RATING_FIELDS, {"form": _options({}, {})}))


@lru_cache(maxsize=1)
def shortcut_help_html() -> SafeString:
    """The static "?" list of shortcuts."""
    return _safe(render_to_string("labeling/annotation/_shortcut_help.html"))


@lru_cache(maxsize=1)
def skip_choices_html() -> SafeString:
    """The skip form's reasons and flags (static)."""
    return _safe(
        render_to_string(
            "labeling/annotation/_skip_choices.html",
            {
                "skip_reasons": SKIP_REASONS,
                "flag_choices": Flag.choices,
                # The details follow the chosen reason and a colon within one stored reason.
                "detail_max": SKIP_REASON_MAX_LENGTH - max(map(len, SKIP_REASONS)) - 2,
            },
        )
    )


@lru_cache(maxsize=1)
def my_work_url() -> str:
    return reverse("labeling:my_work")


@lru_cache(maxsize=256)
def annotate_url(slug: str) -> str:
    """The pair page of a campaign: GET shows it, POST claims a pair."""
    return reverse("labeling:annotate", args=(slug,))


@lru_cache(maxsize=256)
def progress_url(slug: str) -> str:
    """The annotator's progress fragment of a campaign's pair page."""
    return reverse("labeling:annotate_progress", args=(slug,))


@lru_cache(maxsize=1)
def _undo_url_pattern() -> tuple[str, str]:
    head, tail = reverse("labeling:judgment_edit", args=(0,)).rsplit("/0/", 1)
    return f"{head}/", f"/{tail}?from={FROM_ANNOTATE}"


def undo_url(judgment_id: int) -> str:
    """The edit page of a judgment just submitted, opened from the pair page ("Undo")."""
    head, tail = _undo_url_pattern()
    return f"{head}{judgment_id}{tail}"


@lru_cache(maxsize=256)
def _assignment_url_patterns(slug: str) -> dict[str, tuple[str, str]]:
    """Each per-assignment URL of a campaign, reversed once and split around the id."""
    patterns = {}
    for action in ("submit", "skip", "draft"):
        url = reverse(f"labeling:annotate_{action}", args=(slug, 0))
        head, tail = url.rsplit("/0/", 1)
        patterns[action] = (f"{head}/", f"/{tail}")
    return patterns


def assignment_urls(slug: str, assignment_id: int) -> dict[str, str]:
    """``{"submit_url": …, "skip_url": …, "draft_url": …}`` for one assignment."""
    return {
        f"{action}_url": f"{head}{assignment_id}{tail}"
        for action, (head, tail) in _assignment_url_patterns(slug).items()
    }


def _safe(html: str) -> SafeString:
    # Output of a Django template render: everything in it was escaped or sanitised there.
    return mark_safe(html)  # noqa: S308


def _values_from_draft(draft: dict[str, Any]) -> dict[str, Any]:
    values = dict(draft or {})
    flags = values.get("flags")
    if isinstance(flags, str):
        values["flags"] = [flags]
    return values


def _values_from_post(post: QueryDict) -> dict[str, Any]:
    values: dict[str, Any] = {key: post.get(key, "") for key in services.DRAFT_KEYS}
    values["flags"] = post.getlist("flags")
    return values


def _pair_context(
    request: HttpRequest,
    campaign: Campaign,
    claim: services.ClaimResult,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    submitted: Judgment | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "campaign": campaign,
        "notice": notice,
        "undo_url": undo_url(submitted.pk) if submitted is not None else "",
        "progress_url": progress_url(campaign.slug),
        "reason": claim.reason,
        "claim_url": annotate_url(campaign.slug),
        # Nothing held yet, or the last claim found every pair left locked: the claim form.
        "claim_form": claim.assignment is None and claim.reason in ("unclaimed", "busy"),
        "shortcut_help_html": shortcut_help_html(),
        "skip_choices_html": skip_choices_html(),
        "my_work_url": my_work_url(),
    }
    assignment = claim.assignment
    if assignment is None:
        return context
    pair = assignment.pair
    left, right = selectors.shown_sides(pair, left_is_a=assignment.left_is_a)
    guidance_name, guidance_html = selectors.pair_guidance(campaign, pair)
    if values is None:
        values = _values_from_draft(assignment.draft)
    context.update(
        {
            "assignment": assignment,
            "pair": pair,
            "prompt": pair.prompt,
            "messages_shown": selectors.prompt_messages(pair),
            "left": left,
            "right": right,
            "guidance_name": guidance_name,
            "guidance_html": guidance_html,
            "rating_fields_html": rating_fields_html(values, errors or {}),
            "elapsed_ms": time_on_task_clean(values.get("time_on_task_ms")) or 0,
            **assignment_urls(campaign.slug, assignment.pk),
        }
    )
    return context


def _render_pair(
    request: HtmxHttpRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    if not request.htmx:
        return render(request, PAGE, context, status=status)
    # The htmx answer is only the pair partial: it needs none of the context processors
    # (navigation, user, messages), only the CSRF token its forms carry.
    html = get_template(f"{PAGE}#pair").render({**context, "csrf_token": get_token(request)})
    return HttpResponse(html, status=status)


def _user(request: HttpRequest) -> User:
    # role_required has already turned anonymous visitors away.
    return cast(User, request.user)


@role_required(*ANNOTATING_ROLES)
def ping(request: HttpRequest) -> HttpResponse:
    """A keep-alive for long sessions on the pair page (and the floor of bench/annotate.py)."""
    return HttpResponse("ok", content_type="text/plain")


@role_required(*ANNOTATING_ROLES)
def my_work(request: HttpRequest) -> HttpResponse:
    """The annotator's home: open campaigns, their progress, their recent judgments."""
    user = _user(request)
    recent = selectors.recent_judgments_for_annotator(user, limit=25)
    return render(
        request,
        "labeling/annotation/my_work.html",
        {"campaigns": selectors.campaigns_for_annotator(user), "recent": recent},
    )


def campaign_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the pages of ``/campaigns/<slug>/annotate/``: the view gets the campaign instead of
    its slug, with the caller's roles and membership checked in the same query
    (``selectors.campaign_for_annotation``: 403 without an annotating role, 404 for an unknown
    campaign, 403 when it is not open to them). Anonymous callers are sent to sign in."""

    @wraps(view)
    def wrapped(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        campaign = selectors.campaign_for_annotation(request.user, slug)
        return view(request, campaign, *args, **kwargs)

    return wrapped


@campaign_view
@require_http_methods(["GET", "POST"])
def annotate(request: HtmxHttpRequest, campaign: Campaign) -> HttpResponse:
    """The pair page. GET only reads: it shows the pair the annotator holds, or the page with
    nothing in it yet, whose form claims one (htmx posts it as soon as the page loads; without
    script it is a button). Only that POST claims, so a link or an image pointing at this
    page, on another page, never takes work in the viewer's name (and it carries no CSRF
    token). A POST without htmx answers as every form of the page does (``_after_post``)."""
    if request.method == "POST":
        claim = services.assignment_claim(campaign=campaign, annotator=_user(request))
        if not request.htmx:
            return _after_post(request, campaign, claim, notice="")
        return _render_pair(request, _pair_context(request, campaign, claim))
    if campaign.status != Campaign.Status.OPEN:
        claim = services.ClaimResult(None, "closed")
    else:
        held = selectors.live_assignment_for_annotator(_user(request), campaign)
        claim = services.ClaimResult(held, "ok" if held else "unclaimed")
    return _render_pair(request, _pair_context(request, campaign, claim))


def _next(request: HtmxHttpRequest, campaign: Campaign, notice: str) -> HttpResponse:
    """After a submit or skip: the next pair, in the same response (htmx), or claimed and
    then shown by a redirect to the page."""
    claim = services.assignment_claim(campaign=campaign, annotator=_user(request))
    if not request.htmx:
        return _after_post(request, campaign, claim, notice=notice)
    return _render_pair(request, _pair_context(request, campaign, claim, notice=notice))


def _after_post(
    request: HtmxHttpRequest, campaign: Campaign, claim: services.ClaimResult, *, notice: str
) -> HttpResponse:
    """The answer to a form posted without htmx: a redirect to the page, which shows the pair
    the claim leased; when there is none, the page saying why (a redirect would show only the
    claim form again)."""
    if claim.assignment is not None:
        return redirect("labeling:annotate", slug=campaign.slug)
    return _render_pair(request, _pair_context(request, campaign, claim, notice=notice))


def _current_context_with(
    request: HttpRequest,
    campaign: Campaign,
    assignment_id: int,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
) -> dict[str, Any]:
    assignment = (
        Assignment.objects.select_related("pair__prompt", "pair__candidate_a", "pair__candidate_b")
        .filter(pk=assignment_id, annotator=_user(request))
        .first()
    )
    claim = services.ClaimResult(assignment, "ok" if assignment else "done")
    return _pair_context(request, campaign, claim, values=values, errors=errors)


@campaign_view
@require_POST
def submit(request: HtmxHttpRequest, campaign: Campaign, assignment_id: int) -> HttpResponse:
    """Save the judgment (idempotent per assignment) and answer with the next pair."""
    arguments: dict[str, Any] = {
        "assignment_id": assignment_id,
        "annotator": _user(request),
        "campaign": campaign,
        "data": form_data(request.POST),
        "time_on_task_ms": time_on_task_clean(request.POST.get("time_on_task_ms")),
    }
    try:
        if request.htmx:
            judgment, created, claim = services.judgment_submit_and_claim_next(**arguments)
        else:
            judgment, created = services.judgment_submit(**arguments)
    except JudgmentInvalid as invalid:
        values = _values_from_post(request.POST)
        # Kept as an autosave keeps it: a reload after the messages shows what was filled in
        # (the autosave waits for a pause in typing, which a quick Enter never gives it).
        services.assignment_draft_save(
            assignment_id=assignment_id, annotator=_user(request), draft=values
        )
        context = _current_context_with(
            request, campaign, assignment_id, values=values, errors=invalid.flat()
        )
        # htmx swaps only 2xx answers by default, so the form with its messages comes back 200.
        return _render_pair(request, context, status=200 if request.htmx else 400)
    except services.AnnotationError as error:
        return _next(request, campaign, error.message)
    notice = "Saved." if created else "Already saved (nothing duplicated)."
    notice = f"{notice} Judgment #{judgment.pk}."
    if not request.htmx:
        claim = services.assignment_claim(campaign=campaign, annotator=_user(request))
        return _after_post(request, campaign, claim, notice=notice)
    return _render_pair(
        request, _pair_context(request, campaign, claim, notice=notice, submitted=judgment)
    )


@campaign_view
@require_GET
def progress(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    """The annotator's progress in the campaign, a fragment the pair page loads after each
    pair appears (so the round trip itself costs nothing more)."""
    figures = annotator_progress(campaign=campaign, annotator=_user(request))
    html = get_template(PROGRESS).render({"progress": figures, "campaign": campaign})
    return HttpResponse(html)


@campaign_view
@require_POST
def skip(request: HtmxHttpRequest, campaign: Campaign, assignment_id: int) -> HttpResponse:
    """Pass on the pair with a reason (and optional flags); answer with the next pair."""
    reason = request.POST.get("reason", "")
    detail = request.POST.get("reason_detail", "").strip()
    if detail:
        reason = f"{reason}: {detail}" if reason else detail
    try:
        services.assignment_skip(
            assignment_id=assignment_id,
            annotator=_user(request),
            reason=reason,
            flags=request.POST.getlist("skip_flags"),
        )
    except services.SkipInvalid as error:
        context = _current_context_with(
            request, campaign, assignment_id, values={}, errors={"skip": error.message}
        )
        context["skip_error"] = error.message
        return _render_pair(request, context, status=200 if request.htmx else 400)
    except services.AnnotationError as error:
        return _next(request, campaign, error.message)
    return _next(request, campaign, "Skipped.")


@campaign_view
@require_POST
def draft(request: HttpRequest, campaign: Campaign, assignment_id: int) -> HttpResponse:
    """Autosave: keep the unfinished form server-side. 204 saved, 409 no longer yours."""
    saved = services.assignment_draft_save(
        assignment_id=assignment_id,
        annotator=_user(request),
        draft=_values_from_post(request.POST),
    )
    return HttpResponse(status=204 if saved else 409)


@role_required(*ANNOTATING_ROLES)
@require_http_methods(["GET", "POST"])
def judgment_edit(request: HttpRequest, judgment_id: int) -> HttpResponse:
    """Edit one's own judgment while the campaign is open; each edit is kept in history."""
    judgment: Judgment = selectors.judgment_for_annotator(_user(request), judgment_id)
    campaign = judgment.pair.prompt.campaign
    # Opened by "Undo" after a submit: saving (or going back) returns to the pair page.
    back_to_annotate = request.GET.get("from") == FROM_ANNOTATE
    errors: dict[str, str] = {}
    error_message = ""
    if request.method == "POST":
        try:
            services.judgment_edit(
                judgment_id=judgment.pk, annotator=_user(request), data=form_data(request.POST)
            )
        except JudgmentInvalid as invalid:
            errors = invalid.flat()
        except services.AnnotationError as error:
            error_message = error.message
        else:
            if back_to_annotate:
                return redirect("labeling:annotate", slug=campaign.slug)
            return redirect("labeling:my_work")
        values = _values_from_post(request.POST)
    else:
        values = shown_values(judgment)
    left, right = selectors.shown_sides(judgment.pair, left_is_a=judgment.left_is_a)
    return render(
        request,
        "labeling/annotation/judgment_edit.html",
        {
            "judgment": judgment,
            "campaign": campaign,
            "editable": campaign.status == Campaign.Status.OPEN,
            "messages_shown": selectors.prompt_messages(judgment.pair),
            "left": left,
            "right": right,
            "rating_fields_html": rating_fields_html(values, errors),
            "error_message": error_message,
            "back_to_annotate": back_to_annotate,
            "revisions": [
                revision_shown(revision.values, left_is_a=judgment.left_is_a)
                | {"revised_at": revision.revised_at}
                for revision in judgment.revisions.order_by("-revised_at")
            ],
        },
        status=400 if errors or error_message else 200,
    )


def revision_shown(values: dict[str, Any], *, left_is_a: bool) -> dict[str, Any]:
    """A judgment's earlier values as its annotator saw the pair: left and right (not the
    stored A and B), each as its label."""
    stored = CANONICAL_SIDES if left_is_a else CANONICAL_SIDES[::-1]
    sides = {}
    for side, letter in zip(SHOWN_SIDES, stored, strict=True):
        mode = values.get(side_field(letter, RESPONSE_MODE_FIELD))
        severity = values.get(side_field(letter, SEVERITY_FIELD))
        helpfulness = values.get(side_field(letter, HELPFULNESS_FIELD))
        sides[side] = {
            "response_mode": ResponseMode(mode).label if mode in ResponseMode.values else mode,
            "severity": Severity(severity).label if severity in Severity.values else severity,
            "helpfulness": HELPFULNESS_LABELS.get(helpfulness, helpfulness)
            if isinstance(helpfulness, int)
            else helpfulness,
        }
    preference = values.get(PREFERENCE_FIELD)
    if isinstance(preference, int) and not left_is_a:
        preference = -preference
    return {
        **sides,
        "preference": SHOWN_PREFERENCE_LABELS.get(preference, preference)
        if isinstance(preference, int)
        else preference,
    }


def shown_values(judgment: Judgment) -> dict[str, Any]:
    """A stored judgment's values as its annotator saw the pair (left/right)."""
    stored = CANONICAL_SIDES if judgment.left_is_a else CANONICAL_SIDES[::-1]
    values: dict[str, Any] = {}
    for side, letter in zip(SHOWN_SIDES, stored, strict=True):
        for name in SIDE_FIELDS:
            values[side_field(side, name)] = str(getattr(judgment, side_field(letter, name)))
    values["preference"] = str(judgment.preference if judgment.left_is_a else -judgment.preference)
    values["rationale"] = judgment.rationale
    values["flags"] = list(judgment.flags or [])
    values["flag_note"] = judgment.flag_note
    return values
