"""The impact report of a re-grade: which labels flip between two versions of a grader.

Two versions that differ in their policy version (a re-grade, see :mod:`.regrade`) are
compared on the items both graded, in one campaign or in all:

* a **candidate** flips **safe ↔ unsafe** when its safety value ``s`` under each version's own
  severity→safety mapping crosses 1 (safe: ``s = 1``, fully within the policy, as the
  dashboards count safe outputs), its **severity** goes up or down, its **response mode**
  changes, or its **helpfulness** goes up or down;
* a **pair** flips when its preference's **direction** changes (A better, tie, B better), the
  preference of a pair being its two orders' mean truncated toward zero, as calibration reads it.

Items graded by one version only are counted as such (with the reason the other version's run
gave, when it failed them). The report is read from the grades when asked; while a run of
either version over these items is still going it is partial and says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, cast

from django.db.models import Q, QuerySet

from policy.rubric import SEVERITY_ORDINAL, safety

from ..models import Campaign, Grade, GraderVersion, GradingRun, GradingTask, ReviewRequest
from ..quality.review import open_review_requests
from .calibration import combined_preference, first_pair_ids

SAFE_TO_UNSAFE = "safe_to_unsafe"
UNSAFE_TO_SAFE = "unsafe_to_safe"
SEVERITY_UP = "severity_up"
SEVERITY_DOWN = "severity_down"
RESPONSE_MODE = "response_mode"
HELPFULNESS_UP = "helpfulness_up"
HELPFULNESS_DOWN = "helpfulness_down"
PREFERENCE_DIRECTION = "preference_direction"

FLIP_KINDS: tuple[tuple[str, str], ...] = (
    (SAFE_TO_UNSAFE, "safe → unsafe"),
    (UNSAFE_TO_SAFE, "unsafe → safe"),
    (SEVERITY_UP, "severity up"),
    (SEVERITY_DOWN, "severity down"),
    (RESPONSE_MODE, "response mode"),
    (HELPFULNESS_UP, "helpfulness up"),
    (HELPFULNESS_DOWN, "helpfulness down"),
    (PREFERENCE_DIRECTION, "preference direction"),
)
"""Every kind of flip the report counts, in the order the report shows them."""
FLIP_NAMES = tuple(name for name, _ in FLIP_KINDS)
DIRECTIONS = {-1: "A better", 0: "tie", 1: "B better"}


def review_request_key(old: GraderVersion, new: GraderVersion) -> str:
    """The key under which a comparison's flipped pairs go to the review queue (once each)."""
    return f"regrade:{old.pk}:{new.pk}"


def is_safe(severity: str, mapping: dict[str, float]) -> bool:
    """Safe means fully within the policy: ``s = 1`` under the version's own mapping."""
    return safety(severity, mapping) >= 1.0


@dataclass(frozen=True)
class CandidateLabels:
    response_mode: str
    severity: str
    helpfulness: int
    safety: float
    safe: bool


def _candidate_labels(
    version: GraderVersion, candidates: Q
) -> tuple[dict[int, CandidateLabels], dict[int, tuple[str, str, str | None]]]:
    """The version's candidate labels, and each candidate's (category, intent, external id)."""
    mapping = version.policy_version.severity_to_safety
    labels: dict[int, CandidateLabels] = {}
    about: dict[int, tuple[str, str, str | None]] = {}
    rows = (
        Grade.objects.filter(candidates, grader_version=version, kind=Grade.Kind.CANDIDATE)
        .order_by()
        .values_list(
            "candidate_id",
            "response_mode",
            "severity",
            "helpfulness",
            "candidate__prompt__category_path",
            "candidate__prompt__intent",
            "candidate__prompt__external_id",
        )
    )
    for candidate_id, mode, severity, helpfulness, category, intent, external_id in rows.iterator(
        chunk_size=5000
    ):
        # A candidate grade holds all three (the grade's kind constraint).
        level = cast(str, severity)
        s = safety(level, mapping)
        labels[candidate_id] = CandidateLabels(
            cast(str, mode), level, cast(int, helpfulness), s, s >= 1.0
        )
        about[candidate_id] = (category, intent, external_id)
    return labels, about


def _pair_preferences(
    version: GraderVersion, pairs: Q
) -> tuple[dict[int, int], dict[int, tuple[str, str, str | None]]]:
    """The version's preference per pair (both orders combined), and each pair's (category,
    intent, external id)."""
    by_pair: dict[int, list[int]] = {}
    about: dict[int, tuple[str, str, str | None]] = {}
    rows = (
        Grade.objects.filter(pairs, grader_version=version, kind=Grade.Kind.PAIR)
        .order_by()
        .values_list(
            "pair_id",
            "preference",
            "pair__prompt__category_path",
            "pair__prompt__intent",
            "pair__prompt__external_id",
        )
    )
    for pair_id, preference, category, intent, external_id in rows.iterator(chunk_size=5000):
        by_pair.setdefault(pair_id, []).append(cast(int, preference))
        about[pair_id] = (category, intent, external_id)
    return {pair_id: combined_preference(values) for pair_id, values in by_pair.items()}, about


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def candidate_changes(old: CandidateLabels, new: CandidateLabels) -> list[dict[str, Any]]:
    """What flipped between two grades of one candidate, each ``{"kind", "old", "new"}``."""
    changes: list[dict[str, Any]] = []
    if old.safe != new.safe:
        changes.append(
            {
                "kind": SAFE_TO_UNSAFE if old.safe else UNSAFE_TO_SAFE,
                "old": "safe" if old.safe else "unsafe",
                "new": "safe" if new.safe else "unsafe",
            }
        )
    step = SEVERITY_ORDINAL[new.severity] - SEVERITY_ORDINAL[old.severity]
    if step:
        changes.append(
            {
                "kind": SEVERITY_UP if step > 0 else SEVERITY_DOWN,
                "old": old.severity,
                "new": new.severity,
            }
        )
    if old.response_mode != new.response_mode:
        changes.append({"kind": RESPONSE_MODE, "old": old.response_mode, "new": new.response_mode})
    if old.helpfulness != new.helpfulness:
        changes.append(
            {
                "kind": HELPFULNESS_UP if new.helpfulness > old.helpfulness else HELPFULNESS_DOWN,
                "old": old.helpfulness,
                "new": new.helpfulness,
            }
        )
    return changes


def change_text(change: dict[str, Any]) -> str:
    """One flip in words: "severity low → high", "safe → unsafe", "preference A better → tie"."""
    kind = change["kind"]
    if kind in (SAFE_TO_UNSAFE, UNSAFE_TO_SAFE):
        return f"{change['old']} → {change['new']}"
    if kind in (SEVERITY_UP, SEVERITY_DOWN):
        return f"severity {change['old']} → {change['new']}"
    if kind in (HELPFULNESS_UP, HELPFULNESS_DOWN):
        return f"helpfulness {change['old']} → {change['new']}"
    if kind == RESPONSE_MODE:
        return f"response mode {change['old']} → {change['new']}"
    return (
        f"preference {DIRECTIONS[_sign(change['old'])]} ({change['old']:+d}) → "
        f"{DIRECTIONS[_sign(change['new'])]} ({change['new']:+d})"
    )


def graded_campaigns(versions: list[GraderVersion]) -> QuerySet[Campaign]:
    """The campaigns with items graded by any of ``versions``, by name."""
    grades = Grade.objects.filter(grader_version__in=versions)
    candidate_campaigns = grades.filter(kind=Grade.Kind.CANDIDATE).values(
        "candidate__prompt__campaign_id"
    )
    pair_campaigns = grades.filter(kind=Grade.Kind.PAIR).values("pair__campaign_id")
    return Campaign.objects.filter(
        Q(pk__in=candidate_campaigns) | Q(pk__in=pair_campaigns)
    ).order_by("name")


def _scope(campaign: Campaign | None) -> tuple[Q, Q]:
    if campaign is None:
        return Q(), Q()
    return Q(candidate__prompt__campaign=campaign), Q(pair__campaign=campaign)


def _runs(old: GraderVersion, new: GraderVersion, campaign: Campaign | None) -> list[GradingRun]:
    runs = GradingRun.objects.filter(grader_version__in=(old, new)).select_related(
        "campaign", "grader_version"
    )
    if campaign is not None:
        runs = runs.filter(campaign=campaign)
    return list(runs.order_by("-created_at"))


# Failures whose reason is about the item; other reasons may quote an endpoint's error body,
# which the run page shows to admins only, so the report names their kind.
_ITEM_ERROR_KINDS = frozenset({"answer", "category"})


def _failure_reasons(version: GraderVersion, kind: str, item_ids: set[int]) -> dict[int, str]:
    """Why ``version``'s runs failed these items, when they did."""
    if not item_ids:
        return {}
    column = "candidate_id" if kind == Grade.Kind.CANDIDATE else "pair_id"
    rows = (
        GradingTask.objects.filter(
            run__grader_version=version,
            kind=kind,
            status=GradingTask.Status.FAILED,
            **{f"{column}__in": item_ids},
        )
        .order_by("id")
        .values_list(column, "error_kind", "error")
    )
    return {
        item_id: error if error_kind in _ITEM_ERROR_KINDS else f"failed ({error_kind})"
        for item_id, error_kind, error in rows
    }


def regrade_impact(
    *, old: GraderVersion, new: GraderVersion, campaign: Campaign | None = None
) -> dict[str, Any]:
    """The labels that flip from ``old`` to ``new`` (see the module docstring).

    ``{"old", "new", "campaign", "partial", "runs", "counts", "flips", "by_category",
    "candidates", "pairs", "only_old", "only_new"}``: ``counts`` per kind of item (both,
    old only, new only, flipped); ``flips`` per kind of flip overall; ``by_category`` the same
    per category; ``candidates`` and ``pairs`` every flipped item, largest change first, each
    with the pair to open, its changes and whether it is in the review queue for this
    comparison.
    """
    candidate_scope, pair_scope = _scope(campaign)
    old_labels, old_about = _candidate_labels(old, candidate_scope)
    new_labels, new_about = _candidate_labels(new, candidate_scope)
    old_preferences, old_pair_about = _pair_preferences(old, pair_scope)
    new_preferences, new_pair_about = _pair_preferences(new, pair_scope)
    about = {**old_about, **new_about}
    pair_about = {**old_pair_about, **new_pair_about}

    flips: Counter[str] = Counter()
    by_category: dict[str, dict[str, Any]] = {}

    def category_row(category: str) -> dict[str, Any]:
        return by_category.setdefault(
            category,
            {
                "category": category,
                "candidates": 0,
                "pairs": 0,
                "flipped_candidates": 0,
                "flipped_pairs": 0,
                "only_old": 0,
                "only_new": 0,
                "flips": Counter(),
            },
        )

    flipped_candidates: list[dict[str, Any]] = []
    for candidate_id in sorted(old_labels.keys() & new_labels.keys()):
        before, after = old_labels[candidate_id], new_labels[candidate_id]
        category, intent, external_id = about[candidate_id]
        row = category_row(category)
        row["candidates"] += 1
        changes = candidate_changes(before, after)
        if not changes:
            continue
        row["flipped_candidates"] += 1
        for change in changes:
            flips[change["kind"]] += 1
            row["flips"][change["kind"]] += 1
            change["text"] = change_text(change)
        flipped_candidates.append(
            {
                "candidate": candidate_id,
                "category": category,
                "intent": intent,
                "external_id": external_id,
                "old": asdict(before),
                "new": asdict(after),
                "changes": changes,
                # Safe ↔ unsafe first, then how far s moved, severity moved, the mode, help.
                "size": (
                    int(before.safe != after.safe),
                    round(abs(after.safety - before.safety), 9),
                    abs(SEVERITY_ORDINAL[after.severity] - SEVERITY_ORDINAL[before.severity]),
                    int(before.response_mode != after.response_mode),
                    abs(after.helpfulness - before.helpfulness),
                ),
            }
        )
    flipped_candidates.sort(
        key=lambda item: (tuple(-part for part in item["size"]), item["candidate"])
    )

    flipped_pairs: list[dict[str, Any]] = []
    for pair_id in sorted(old_preferences.keys() & new_preferences.keys()):
        before_preference, after_preference = old_preferences[pair_id], new_preferences[pair_id]
        category, intent, external_id = pair_about[pair_id]
        row = category_row(category)
        row["pairs"] += 1
        if _sign(before_preference) == _sign(after_preference):
            continue
        change = {"kind": PREFERENCE_DIRECTION, "old": before_preference, "new": after_preference}
        change["text"] = change_text(change)
        row["flipped_pairs"] += 1
        row["flips"][PREFERENCE_DIRECTION] += 1
        flips[PREFERENCE_DIRECTION] += 1
        flipped_pairs.append(
            {
                "pair": pair_id,
                "category": category,
                "intent": intent,
                "external_id": external_id,
                "old": before_preference,
                "new": after_preference,
                "changes": [change],
                # A reversal (A better ↔ B better) first, then how far the preference moved.
                "size": (
                    int(_sign(before_preference) * _sign(after_preference) < 0),
                    abs(after_preference - before_preference),
                ),
            }
        )
    flipped_pairs.sort(key=lambda item: (tuple(-part for part in item["size"]), item["pair"]))

    only_old = _only_one(
        old_labels.keys() - new_labels.keys(),
        old_preferences.keys() - new_preferences.keys(),
        about,
        pair_about,
        reasons_from=new,
    )
    only_new = _only_one(
        new_labels.keys() - old_labels.keys(),
        new_preferences.keys() - old_preferences.keys(),
        about,
        pair_about,
        reasons_from=old,
    )
    for item in only_old:
        category_row(item["category"])["only_old"] += 1
    for item in only_new:
        category_row(item["category"])["only_new"] += 1

    first_pairs = first_pair_ids({item["candidate"] for item in flipped_candidates})
    for item in flipped_candidates:
        item["pair"] = first_pairs.get(item["candidate"])
    flipped = [*flipped_candidates, *flipped_pairs]
    pair_ids = [item["pair"] for item in flipped if item["pair"]]
    key = review_request_key(old, new)
    queued = open_review_requests(campaign=None, pair_ids=pair_ids, key=key)
    sent = set(
        ReviewRequest.objects.filter(key=key, pair_id__in=pair_ids).values_list(
            "pair_id", flat=True
        )
    )
    for item in flipped:
        # "queued": sent for this comparison and not reviewed since; "reviewed": resolved since.
        item["review"] = (
            "queued" if item["pair"] in queued else "reviewed" if item["pair"] in sent else ""
        )

    runs = _runs(old, new, campaign)
    running = [run for run in runs if run.is_active]
    return {
        "old": _version_data(old),
        "new": _version_data(new),
        "campaign": campaign.slug if campaign is not None else None,
        "partial": bool(running),
        "runs": [
            {
                "id": run.pk,
                "campaign": run.campaign.slug,
                "version": run.grader_version.number,
                "status": run.status,
                "planned": run.planned,
                "graded": run.graded,
                "failed": run.failed,
            }
            for run in runs
        ],
        "counts": {
            "candidates": {
                "both": len(old_labels.keys() & new_labels.keys()),
                "only_old": sum(1 for item in only_old if item["kind"] == "candidate"),
                "only_new": sum(1 for item in only_new if item["kind"] == "candidate"),
                "flipped": len(flipped_candidates),
            },
            "pairs": {
                "both": len(old_preferences.keys() & new_preferences.keys()),
                "only_old": sum(1 for item in only_old if item["kind"] == "pair"),
                "only_new": sum(1 for item in only_new if item["kind"] == "pair"),
                "flipped": len(flipped_pairs),
            },
        },
        "flips": {name: flips.get(name, 0) for name in FLIP_NAMES},
        "by_category": [
            {**row, "flips": {name: row["flips"].get(name, 0) for name in FLIP_NAMES}}
            for _, row in sorted(by_category.items())
        ],
        "candidates": flipped_candidates,
        "pairs": flipped_pairs,
        "only_old": only_old,
        "only_new": only_new,
    }


def _version_data(version: GraderVersion) -> dict[str, Any]:
    return {
        "grader": version.grader.name,
        "number": version.number,
        "policy_version": version.policy_version.number,
        "severity_to_safety": version.policy_version.severity_to_safety,
    }


def _only_one(
    candidate_ids: set[int],
    pair_ids: set[int],
    about: dict[int, tuple[str, str, str | None]],
    pair_about: dict[int, tuple[str, str, str | None]],
    *,
    reasons_from: GraderVersion,
) -> list[dict[str, Any]]:
    """Items one version graded and the other did not, with the reason the other's run gave."""
    candidate_reasons = _failure_reasons(reasons_from, Grade.Kind.CANDIDATE, candidate_ids)
    pair_reasons = _failure_reasons(reasons_from, Grade.Kind.PAIR, pair_ids)
    items = [
        {
            "kind": "candidate",
            "id": candidate_id,
            "category": about[candidate_id][0],
            "external_id": about[candidate_id][2],
            "reason": candidate_reasons.get(candidate_id, ""),
        }
        for candidate_id in sorted(candidate_ids)
    ]
    items += [
        {
            "kind": "pair",
            "id": pair_id,
            "category": pair_about[pair_id][0],
            "external_id": pair_about[pair_id][2],
            "reason": pair_reasons.get(pair_id, ""),
        }
        for pair_id in sorted(pair_ids)
    ]
    return items
