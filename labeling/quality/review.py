"""The reviewers' queue and their resolutions (selectors and services).

A pair enters the queue when it has no review yet and any of these holds:

* **disagreement** — among its judgments, preferences point in opposite directions or span
  two or more steps, or a side's severity or helpfulness spans two or more steps;
* **failed gold** — a gold pair with at least one judgment that misses the expected answer;
* **flags** — an annotator raised a flag (``needs_expert``, ``prompt_problem``, …).

A pair also enters it when someone sends it on purpose (a :class:`ReviewRequest`, e.g. the
labels a re-grade under a newer policy version flipped), judged or not, and stays until a
review newer than the request resolves it.

A review's ``final_labels`` keep the shape exports read:
``{"a": {"response_mode", "severity", "helpfulness"}, "b": {...}, "preference": int}``;
a ``discard`` resolution has no labels and tells exports to drop the pair.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from labeling.models import (
    Campaign,
    Judgment,
    Pair,
    Prompt,
    PromptChange,
    Review,
    ReviewRequest,
)
from policy.rubric import (
    CANONICAL_SIDES,
    HELPFULNESS_MAX,
    HELPFULNESS_MIN,
    PREFERENCE_MAX,
    PREFERENCE_MIN,
    SEVERITY_ORDINAL,
    Flag,
    Intent,
    ResponseMode,
)

from .gold import as_int, failed_gold_pair_ids

QUEUE_LIMIT = 200
SPREAD_THRESHOLD = 2
# A request someone made on purpose ranks above disagreement, below failed gold and experts.
REQUEST_URGENCY = 30
SCORE_URGENCY = 10
_NO_JUDGMENTS: dict[str, Any] = {
    "judgments": 0,
    "preference_min": 0,
    "preference_max": 0,
    "preference_spread": 0,
    "a_severity_spread": 0,
    "b_severity_spread": 0,
    "a_helpfulness_spread": 0,
    "b_helpfulness_spread": 0,
    "flagged": 0,
}


def _severity_rank(field: str) -> Case:
    return Case(
        *[When(**{field: level}, then=Value(rank)) for level, rank in SEVERITY_ORDINAL.items()],
        output_field=IntegerField(),
    )


def _pair_statistics(judgments: QuerySet[Judgment]) -> QuerySet:
    return (
        judgments.values("pair_id")
        .annotate(
            judgments=Count("id"),
            preference_min=Min("preference"),
            preference_max=Max("preference"),
            a_severity_spread=Max(_severity_rank("a_severity")) - Min(_severity_rank("a_severity")),
            b_severity_spread=Max(_severity_rank("b_severity")) - Min(_severity_rank("b_severity")),
            a_helpfulness_spread=Max("a_helpfulness") - Min("a_helpfulness"),
            b_helpfulness_spread=Max("b_helpfulness") - Min("b_helpfulness"),
            flagged=Count("id", filter=~Q(flags=[])),
        )
        .annotate(preference_spread=F("preference_max") - F("preference_min"))
        .order_by()
    )


def _reasons(stats: dict[str, Any]) -> list[str]:
    reasons = []
    if stats["preference_min"] < 0 < stats["preference_max"]:
        reasons.append("opposite preferences")
    elif stats["preference_spread"] >= SPREAD_THRESHOLD:
        reasons.append("preference spread")
    for side in CANONICAL_SIDES:
        if stats[f"{side}_severity_spread"] >= SPREAD_THRESHOLD:
            reasons.append(f"severity spread ({side.upper()})")
        if stats[f"{side}_helpfulness_spread"] >= SPREAD_THRESHOLD:
            reasons.append(f"helpfulness spread ({side.upper()})")
    return reasons


def review_queue(*, campaign: Campaign, limit: int = QUEUE_LIMIT) -> dict[str, Any]:
    """Unreviewed pairs of ``campaign`` that need a reviewer, most urgent first."""
    judgments = Judgment.objects.filter(pair__prompt__campaign=campaign, pair__review__isnull=True)
    stats = _pair_statistics(judgments)
    disagreement = (
        Q(preference_min__lt=0, preference_max__gt=0)
        | Q(preference_spread__gte=SPREAD_THRESHOLD)
        | Q(a_severity_spread__gte=SPREAD_THRESHOLD)
        | Q(b_severity_spread__gte=SPREAD_THRESHOLD)
        | Q(a_helpfulness_spread__gte=SPREAD_THRESHOLD)
        | Q(b_helpfulness_spread__gte=SPREAD_THRESHOLD)
        | Q(flagged__gt=0)
    )
    selected = {row["pair_id"]: row for row in stats.filter(disagreement)}
    reviewed = set(
        Review.objects.filter(pair__prompt__campaign=campaign).values_list("pair_id", flat=True)
    )
    failed_gold = {
        pair_id: annotators
        for pair_id, annotators in failed_gold_pair_ids(campaign=campaign).items()
        if pair_id not in reviewed
    }
    requested = open_review_requests(pair_ids=None, campaign=campaign)
    request_scores = open_review_request_scores(campaign=campaign)
    missing = (set(failed_gold) | set(requested)) - set(selected)
    if missing:
        # A requested pair may have an old review: its judgments count whatever the review.
        every_judgment = Judgment.objects.filter(pair_id__in=missing)
        for row in _pair_statistics(every_judgment):
            selected[row["pair_id"]] = row
        for pair_id in missing - set(selected):
            selected[pair_id] = {"pair_id": pair_id, **_NO_JUDGMENTS}
    flags_by_pair: dict[int, set[str]] = {}
    for pair_id, flags in Judgment.objects.filter(
        pair_id__in=[pid for pid, row in selected.items() if row["flagged"]]
    ).values_list("pair_id", "flags"):
        flags_by_pair.setdefault(pair_id, set()).update(str(flag) for flag in flags or [])
    items = []
    for pair_id, row in selected.items():
        reasons = _reasons(row)
        if pair_id in failed_gold:
            reasons.insert(0, f"failed gold ({len(failed_gold[pair_id])})")
        flags = sorted(flags_by_pair.get(pair_id, ()))
        reasons.extend(f"flag: {flag}" for flag in flags)
        reasons.extend(requested.get(pair_id, ()))
        urgency = (
            (100 if pair_id in failed_gold else 0)
            + (REQUEST_URGENCY if pair_id in requested else 0)
            # A scored request (a likely label error) ranks by its sender's confidence.
            + SCORE_URGENCY * request_scores.get(pair_id, 0.0)
            + (50 if Flag.NEEDS_EXPERT in flags or Flag.PROMPT_PROBLEM in flags else 0)
            + 10 * len(flags)
            + row["preference_spread"]
            + max(row["a_severity_spread"], row["b_severity_spread"])
        )
        items.append(
            {
                "pair_id": pair_id,
                "judgments": row["judgments"],
                "reasons": reasons,
                "flags": flags,
                "urgency": urgency,
            }
        )
    items.sort(key=lambda item: (-item["urgency"], item["pair_id"]))
    total = len(items)
    items = items[:limit]
    pairs = Pair.objects.select_related("prompt").in_bulk([item["pair_id"] for item in items])
    for item in items:
        pair = pairs[item["pair_id"]]
        item["prompt_id"] = pair.prompt_id
        item["category"] = pair.prompt.category_path
        item["intent"] = pair.prompt.intent
        item["is_gold"] = pair.is_gold
    return {"total": total, "items": items}


def resolved_reviews(
    *,
    campaign: Campaign | None = None,
    reviewer_id: int | None = None,
    resolution: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[Review]:
    """Reviews, most recently resolved first, filtered by campaign, reviewer, outcome and the
    day (in the active time zone) of their last change, ``since`` and ``until`` included."""
    reviews = Review.objects.select_related("pair__prompt__campaign", "reviewer").order_by(
        "-updated_at", "-id"
    )
    if campaign is not None:
        reviews = reviews.filter(pair__prompt__campaign=campaign)
    if reviewer_id is not None:
        reviews = reviews.filter(reviewer_id=reviewer_id)
    if resolution:
        reviews = reviews.filter(resolution=resolution)
    zone = timezone.get_current_timezone()
    if since is not None:
        reviews = reviews.filter(updated_at__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until is not None:
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone)
        reviews = reviews.filter(updated_at__lt=end)
    return reviews


def reviewers_with_reviews() -> QuerySet[Any]:
    """Everyone who resolved at least one pair, by name (the reviewer filter's choices)."""
    return (
        get_user_model()
        .objects.filter(pk__in=Review.objects.values("reviewer_id"))
        .order_by("username")
    )


def open_review_requests(
    *, campaign: Campaign | None, pair_ids: list[int] | None, key: str | None = None
) -> dict[int, list[str]]:
    """The reasons of the requests still open (no review, or a review older than the request)
    per pair, of a campaign or of the pairs named (and sent under ``key``), oldest first."""
    requests = ReviewRequest.objects.filter(
        Q(pair__review__isnull=True) | Q(pair__review__updated_at__lt=F("created_at"))
    )
    if key is not None:
        requests = requests.filter(key=key)
    if campaign is not None:
        requests = requests.filter(pair__campaign=campaign)
    if pair_ids is not None:
        requests = requests.filter(pair_id__in=pair_ids)
    reasons: dict[int, list[str]] = {}
    for pair_id, reason in requests.order_by("created_at", "id").values_list("pair_id", "reason"):
        reasons.setdefault(pair_id, []).append(reason)
    return reasons


def open_review_request_scores(*, campaign: Campaign) -> dict[int, float]:
    """The highest score of each pair's open scored requests in a campaign."""
    requests = ReviewRequest.objects.filter(
        Q(pair__review__isnull=True) | Q(pair__review__updated_at__lt=F("created_at")),
        pair__campaign=campaign,
        score__isnull=False,
    )
    scores: dict[int, float] = {}
    for pair_id, score in requests.values_list("pair_id", "score"):
        if score is not None:
            scores[pair_id] = max(score, scores.get(pair_id, score))
    return scores


def open_review_request_evidence(*, pair_id: int) -> list[dict[str, Any]]:
    """The evidence of a pair's open requests that carry any (e.g. likely label errors)."""
    requests = ReviewRequest.objects.filter(
        Q(pair__review__isnull=True) | Q(pair__review__updated_at__lt=F("created_at")),
        pair_id=pair_id,
    ).exclude(evidence={})
    flags: list[dict[str, Any]] = []
    for evidence in requests.order_by("created_at", "id").values_list("evidence", flat=True):
        flags.extend(evidence.get("flags", []))
    return flags


def review_requests_add(
    *,
    reasons: dict[int, str],
    key: str,
    source: str,
    requested_by: Any = None,
    scores: dict[int, float] | None = None,
    evidence: dict[int, dict[str, Any]] | None = None,
) -> list[int]:
    """Send pairs to the review queue, each with its reason (and optionally a score that ranks
    it and the evidence behind it); a pair already sent under ``key`` is left as it is.
    Returns the pairs added now."""
    if source not in ReviewRequest.Source.values:
        raise ValidationError(
            {"source": f"must be one of {', '.join(ReviewRequest.Source.values)}"}
        )
    author = requested_by if requested_by is not None and requested_by.is_authenticated else None
    with transaction.atomic():
        known = set(
            ReviewRequest.objects.filter(key=key, pair_id__in=list(reasons)).values_list(
                "pair_id", flat=True
            )
        )
        new = sorted(set(reasons) - known)
        created = ReviewRequest.objects.bulk_create(
            [
                ReviewRequest(
                    pair_id=pair_id,
                    key=key,
                    source=source,
                    reason=reasons[pair_id],
                    score=(scores or {}).get(pair_id),
                    evidence=(evidence or {}).get(pair_id, {}),
                    requested_by=author,
                )
                for pair_id in new
            ],
            # Two sends at once: the unique (pair, key) keeps one, the other adds nothing.
            ignore_conflicts=True,
        )
    return [request.pair_id for request in created]


def pair_for_review(*, pair_id: int) -> Pair:
    """The pair with what a reviewer sees: prompt, both candidates, every judgment, review."""
    return (
        Pair.objects.select_related("prompt__campaign", "candidate_a", "candidate_b", "review")
        .prefetch_related("judgments__annotator")
        .get(pk=pair_id)
    )


def final_labels_clean(raw: Any) -> dict[str, Any]:
    """Validate final labels and return them in the canonical export shape."""
    if not isinstance(raw, dict):
        raise ValidationError("Final labels must be an object.")
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for side in CANONICAL_SIDES:
        values = raw.get(side)
        if not isinstance(values, dict):
            errors[side] = "needs response_mode, severity and helpfulness"
            continue
        mode = values.get("response_mode")
        severity = values.get("severity")
        helpfulness = values.get("helpfulness")
        if mode not in ResponseMode.values:
            errors[f"{side}.response_mode"] = f"must be one of {', '.join(ResponseMode.values)}"
        if severity not in SEVERITY_ORDINAL:
            errors[f"{side}.severity"] = f"must be one of {', '.join(SEVERITY_ORDINAL)}"
        helpfulness = as_int(helpfulness)
        if helpfulness is None or not HELPFULNESS_MIN <= helpfulness <= HELPFULNESS_MAX:
            errors[f"{side}.helpfulness"] = (
                f"must be an integer from {HELPFULNESS_MIN} to {HELPFULNESS_MAX}"
            )
        clean[side] = {"response_mode": mode, "severity": severity, "helpfulness": helpfulness}
    preference = as_int(raw.get("preference"))
    if preference is None or not PREFERENCE_MIN <= preference <= PREFERENCE_MAX:
        errors["preference"] = f"must be an integer from {PREFERENCE_MIN} to {PREFERENCE_MAX}"
    clean["preference"] = preference
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def review_record(
    *,
    pair: Pair,
    reviewer: Any,
    resolution: str,
    final_labels: Any = None,
    notes: str = "",
) -> Review:
    """Record (or replace) the resolution of ``pair``: final labels, or discard."""
    if resolution not in Review.Resolution.values:
        raise ValidationError({"resolution": "must be 'labels' or 'discard'"})
    labels = final_labels_clean(final_labels) if resolution == Review.Resolution.LABELS else None
    review, _ = Review.objects.update_or_create(
        pair=pair,
        defaults={
            "reviewer": reviewer,
            "resolution": resolution,
            "final_labels": labels,
            "notes": notes.strip(),
        },
    )
    return review


@transaction.atomic
def prompt_correct(
    *,
    prompt: Prompt,
    changed_by: Any,
    category_path: str | None = None,
    intent: str | None = None,
    reason: str = "",
) -> list[PromptChange]:
    """Correct a prompt's category and/or intent, keeping each change in its history."""
    locked = (
        Prompt.objects.select_for_update()
        .select_related("campaign__policy_version")
        .get(pk=prompt.pk)
    )
    errors: dict[str, str] = {}
    if category_path is not None and category_path != locked.category_path:
        leaves = locked.campaign.policy_version.leaf_paths()
        if category_path not in leaves:
            errors["category_path"] = "not a category of the campaign's policy version"
    if intent is not None and intent not in Intent.values:
        errors["intent"] = f"must be one of {', '.join(Intent.values)}"
    if errors:
        raise ValidationError(errors)
    changes = []
    for field, new in (("category_path", category_path), ("intent", intent)):
        old = getattr(locked, field)
        if new is None or new == old:
            continue
        changes.append(
            PromptChange(
                prompt=locked,
                field=field,
                old_value=old,
                new_value=new,
                changed_by=changed_by,
                reason=reason.strip(),
            )
        )
        setattr(locked, field, new)
    if changes:
        locked.save(update_fields=[change.field for change in changes])
        PromptChange.objects.bulk_create(changes)
    prompt.category_path = locked.category_path
    prompt.intent = locked.intent
    return changes
