"""Bulk actions of the data browser on a selection of a campaign's pairs.

Each action says, per pair, whether it did something or why it skipped it, and doing it again
changes nothing more (every pair then skips with the reason that it is already done):

* **gold** — mark as gold, the expected answer taken from a resolved review (its final
  labels) or else from the majority of the judgments (each side's severity and helpfulness
  and the preference direction held by more than half of two or more judgments); a pair with
  neither is skipped with what was missing;
* **review** — send to the review queue (a ``ReviewRequest`` whose reason names who sent it);
* **exclude** / **include** — keep the pair out of every export (an ``ExportExclusion``), or
  let it back in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.roles import Role, has_role
from labeling.models import Campaign, ExportExclusion, Judgment, Pair, Review, ReviewRequest
from labeling.quality.gold import gold_answer_clean
from labeling.quality.review import review_requests_add
from labeling.quality.selectors import GOLD_ROLES, QUALITY_ROLES
from policy.rubric import CANONICAL_SIDES

from .selectors import BrowserQuery, open_request_condition, pairs_matching

# Who may run each action: gold answers are the gold roles'; exports the researchers'.
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "review": ("Send to review", QUALITY_ROLES),
    "gold": ("Mark gold", GOLD_ROLES),
    "exclude": ("Exclude from exports", (Role.RESEARCHER, Role.ADMIN)),
    "include": ("Include in exports again", (Role.RESEARCHER, Role.ADMIN)),
}
# A gold answer made here allows this much distance on each scale, as a researcher's default.
GOLD_SEVERITY_TOLERANCE = 0
GOLD_HELPFULNESS_TOLERANCE = 1
GOLD_MIN_JUDGMENTS = 2
CHUNK = 1000
REVIEW_KEY = "browser"


def actions_for(user: Any) -> dict[str, str]:
    """The actions ``user`` may run: name -> label."""
    return {name: label for name, (label, roles) in ACTIONS.items() if has_role(user, *roles)}


@dataclass
class BulkOutcome:
    """What one bulk action did: the pairs done, and each skipped pair with its reason."""

    action: str
    selected: int
    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    @property
    def skipped_by_reason(self) -> list[tuple[str, int]]:
        counts = Counter(self.skipped.values())
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "selected": self.selected,
            "done": len(self.done),
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(self.skipped_by_reason),
            "done_pairs": self.done,
            "skipped_pairs": [
                {"pair": pair_id, "reason": reason} for pair_id, reason in self.skipped.items()
            ],
        }


def selection_resolve(
    *,
    campaign: Campaign,
    pair_ids: Iterable[Any] | None = None,
    query: BrowserQuery | None = None,
) -> list[int]:
    """The pair ids a bulk action applies to: the ones named (each must be a pair of the
    campaign, else nothing is done), or every pair the query matches ("select all N")."""
    if query is not None:
        return list(pairs_matching(campaign, query).order_by("id").values_list("id", flat=True))
    wanted: list[int] = []
    bad: list[str] = []
    for raw in pair_ids or []:
        text = str(raw).strip()
        if not text.isdigit():
            bad.append(repr(raw))
        else:
            wanted.append(int(text))
    if bad:
        raise ValidationError({"pairs": [f"not pair ids: {', '.join(bad[:10])}"]})
    if not wanted:
        raise ValidationError({"pairs": ["select at least one pair"]})
    unique = sorted(set(wanted))
    known = set(Pair.objects.filter(campaign=campaign, pk__in=unique).values_list("id", flat=True))
    missing = [str(pair_id) for pair_id in unique if pair_id not in known]
    if missing:
        raise ValidationError(
            {"pairs": [f"not pairs of campaign {campaign.slug}: {', '.join(missing[:20])}"]}
        )
    return unique


def pairs_bulk_apply(*, action: str, pair_ids: list[int], user: Any) -> BulkOutcome:
    """Run ``action`` on the pairs (already resolved to this campaign's ids)."""
    if action not in ACTIONS:
        raise ValidationError({"action": [f"must be one of {', '.join(ACTIONS)}"]})
    outcome = BulkOutcome(action=action, selected=len(pair_ids))
    run = {
        "gold": _mark_gold,
        "review": _send_to_review,
        "exclude": _exclude,
        "include": _include,
    }[action]
    for start in range(0, len(pair_ids), CHUNK):
        run(pair_ids[start : start + CHUNK], user, outcome)
    return outcome


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _answer_from_review(review: Review) -> dict[str, Any]:
    labels = review.final_labels or {}
    answer: dict[str, Any] = {
        side: {
            "severity": labels[side]["severity"],
            "helpfulness": labels[side]["helpfulness"],
        }
        for side in CANONICAL_SIDES
    }
    answer["preference"] = _sign(int(labels["preference"]))
    return answer


def _majority(values: list[Any]) -> Any:
    """The value held by more than half of ``values``, or None."""
    value, count = Counter(values).most_common(1)[0]
    return value if count * 2 > len(values) else None


def _answer_from_majority(judgments: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The majority answer of a pair's judgments, or None and the reason there is none."""
    if len(judgments) < GOLD_MIN_JUDGMENTS:
        return None, (
            f"no resolved review and {len(judgments)} judgment{'s' if len(judgments) != 1 else ''}"
            f" (a majority needs {GOLD_MIN_JUDGMENTS})"
        )
    answer: dict[str, Any] = {}
    split: list[str] = []
    for side in CANONICAL_SIDES:
        answer[side] = {}
        for name in ("severity", "helpfulness"):
            value = _majority([row[f"{side}_{name}"] for row in judgments])
            if value is None:
                split.append(f"{side.upper()} {name}")
            answer[side][name] = value
    direction = _majority([_sign(row["preference"]) for row in judgments])
    if direction is None:
        split.append("preference")
    answer["preference"] = direction
    if split:
        return None, f"no resolved review and no majority ({', '.join(split)} split)"
    return answer, ""


@transaction.atomic
def _mark_gold(pair_ids: list[int], user: Any, outcome: BulkOutcome) -> None:
    pairs = list(
        Pair.objects.select_for_update(of=("self",))
        .filter(pk__in=pair_ids)
        .select_related("review")
        .order_by("id")
    )
    judgments: dict[int, list[dict[str, Any]]] = {}
    for row in Judgment.objects.filter(pair_id__in=pair_ids).values(
        "pair_id", "a_severity", "a_helpfulness", "b_severity", "b_helpfulness", "preference"
    ):
        judgments.setdefault(row["pair_id"], []).append(dict(row))
    for pair in pairs:
        if pair.is_gold:
            outcome.skipped[pair.pk] = "already gold"
            continue
        review = getattr(pair, "review", None)
        if review is not None and review.resolution == Review.Resolution.DISCARD:
            outcome.skipped[pair.pk] = "discarded by a reviewer"
            continue
        if review is not None and review.final_labels:
            answer: dict[str, Any] | None = _answer_from_review(review)
        else:
            answer, reason = _answer_from_majority(judgments.get(pair.pk, []))
            if answer is None:
                outcome.skipped[pair.pk] = reason
                continue
        assert answer is not None
        answer["severity_tolerance"] = GOLD_SEVERITY_TOLERANCE
        answer["helpfulness_tolerance"] = GOLD_HELPFULNESS_TOLERANCE
        clean = gold_answer_clean(answer)
        Pair.objects.filter(pk=pair.pk).update(is_gold=True, gold_answer=clean)
        outcome.done.append(pair.pk)


def _send_to_review(pair_ids: list[int], user: Any, outcome: BulkOutcome) -> None:
    waiting = set(
        ReviewRequest.objects.filter(open_request_condition(), pair_id__in=pair_ids).values_list(
            "pair_id", flat=True
        )
    )
    reviewed = dict(
        Review.objects.filter(pair_id__in=pair_ids).values_list("pair_id", "updated_at")
    )
    reason = f"sent from the data browser by {user.get_username()}"
    by_key: dict[str, dict[int, str]] = {}
    for pair_id in pair_ids:
        if pair_id in waiting:
            outcome.skipped[pair_id] = "already waiting for a reviewer"
            continue
        # A pair resolved since it was last sent may be sent again: one request per review.
        stamp = reviewed.get(pair_id)
        key = REVIEW_KEY if stamp is None else f"{REVIEW_KEY}:after-review:{stamp.isoformat()}"
        by_key.setdefault(key, {})[pair_id] = reason
    for key, reasons in by_key.items():
        added = set(
            review_requests_add(
                reasons=reasons, key=key, source=ReviewRequest.Source.BROWSER, requested_by=user
            )
        )
        for pair_id in reasons:
            if pair_id in added:
                outcome.done.append(pair_id)
            else:
                outcome.skipped[pair_id] = "already waiting for a reviewer"
    outcome.done.sort()


@transaction.atomic
def _exclude(pair_ids: list[int], user: Any, outcome: BulkOutcome) -> None:
    # The pairs' locks make two bulk actions on the same pairs take turns, so what one finds
    # excluded the other made, and the counts stay exact.
    list(Pair.objects.select_for_update().filter(pk__in=pair_ids).values_list("id", flat=True))
    known = set(
        ExportExclusion.objects.filter(pair_id__in=pair_ids).values_list("pair_id", flat=True)
    )
    author = user if user.is_authenticated else None
    new = [pair_id for pair_id in pair_ids if pair_id not in known]
    ExportExclusion.objects.bulk_create(
        [ExportExclusion(pair_id=pair_id, excluded_by=author) for pair_id in new]
    )
    outcome.done.extend(new)
    for pair_id in pair_ids:
        if pair_id in known:
            outcome.skipped[pair_id] = "already excluded"


@transaction.atomic
def _include(pair_ids: list[int], user: Any, outcome: BulkOutcome) -> None:
    excluded = set(
        ExportExclusion.objects.select_for_update()
        .filter(pair_id__in=pair_ids)
        .values_list("pair_id", flat=True)
    )
    ExportExclusion.objects.filter(pair_id__in=excluded).delete()
    for pair_id in pair_ids:
        if pair_id in excluded:
            outcome.done.append(pair_id)
        else:
            outcome.skipped[pair_id] = "not excluded"
