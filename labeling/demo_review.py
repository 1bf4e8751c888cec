"""Work for the demo's reviewer on first sign-in: a disagreement and a failed gold pair.

The demo's annotators mostly agree, so their judgments alone may leave the review queue
empty. One more synthetic annotator judges a few pairs others already judged, through the real
claim and submit, with the opposite preference (a disagreement the queue shows); then one of
those pairs becomes gold with another annotator's answer, which the contrary judgment fails.
Idempotent: running it again adds nothing.
"""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth.models import Group, User

from policy.rubric import (
    CANONICAL_SIDES,
    HELPFULNESS_FIELD,
    RESPONSE_MODE_FIELD,
    SEVERITY_FIELD,
    SIDE_FIELDS,
    ResponseMode,
    Severity,
    side_field,
)

from .annotation import services as annotation
from .models import Assignment, Campaign, Judgment
from .quality.gold import pair_gold_set

DEMO_CAMPAIGN = "xstest-demo"
CONTRARY_ANNOTATOR = "demo-annotator-4"
CONTRARY_JUDGMENTS = 3


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _contrary_user() -> User:
    user, created = User.objects.get_or_create(username=CONTRARY_ANNOTATOR)
    if created:
        user.set_unusable_password()  # a synthetic annotator never signs in
        user.save()
    user.groups.add(*Group.objects.filter(name="annotator"))
    return user


def _side(judgment: Judgment | None, side: str) -> dict[str, Any]:
    if judgment is None:
        return {
            RESPONSE_MODE_FIELD: ResponseMode.DIRECT_ANSWER.value,
            SEVERITY_FIELD: Severity.NONE.value,
            HELPFULNESS_FIELD: 3,
        }
    return {field: getattr(judgment, side_field(side, field)) for field in SIDE_FIELDS}


def _contrary_body(assignment: Assignment) -> dict[str, Any]:
    """The others' ratings of the sides, and the preference their majority points against."""
    others = list(Judgment.objects.filter(pair_id=assignment.pair_id).order_by("id"))
    first = others[0] if others else None
    direction = _sign(sum(_sign(judgment.preference) for judgment in others))
    canonical = -2 * direction if direction else 2
    a, b = (_side(first, side) for side in CANONICAL_SIDES)
    left, right = (a, b) if assignment.left_is_a else (b, a)
    return {
        "left": left,
        "right": right,
        "preference": canonical if assignment.left_is_a else -canonical,
        "rationale": "Demo judgment that disagrees with the others, for the review queue.",
        "flags": [],
    }


def _gold_answer(judgment: Judgment) -> dict[str, Any]:
    answer: dict[str, Any] = {
        side: {
            "severity": getattr(judgment, side_field(side, "severity")),
            "helpfulness": getattr(judgment, side_field(side, "helpfulness")),
        }
        for side in CANONICAL_SIDES
    }
    answer.update(
        preference=_sign(judgment.preference), severity_tolerance=0, helpfulness_tolerance=0
    )
    return answer


def seed_demo_review_work(*, campaign_slug: str = DEMO_CAMPAIGN) -> dict[str, int]:
    """Add the contrary judgments and the failed gold pair; returns what was added."""
    campaign = Campaign.objects.select_related("policy_version").filter(slug=campaign_slug).first()
    added = {"judgments": 0, "gold": 0}
    if campaign is None or campaign.status != Campaign.Status.OPEN:
        return added
    user = _contrary_user()
    rng = random.Random("demo:contrary")
    have = Judgment.objects.filter(annotator=user, pair__prompt__campaign=campaign).count()
    for _ in range(max(0, CONTRARY_JUDGMENTS - have)):
        claim = annotation.assignment_claim(campaign=campaign, annotator=user, rng=rng)
        if claim.assignment is None:
            break
        _, created = annotation.judgment_submit(
            assignment_id=claim.assignment.pk,
            annotator=user,
            campaign=campaign,
            data=_contrary_body(claim.assignment),
            time_on_task_ms=rng.randint(8_000, 60_000),
        )
        added["judgments"] += int(created)
    if campaign.prompts.filter(pairs__is_gold=True).exists():
        return added
    contrary = Judgment.objects.filter(annotator=user, pair__prompt__campaign=campaign)
    expected = (
        Judgment.objects.filter(pair_id__in=contrary.values("pair_id"), pair__review__isnull=True)
        .exclude(annotator=user)
        .exclude(preference=0)
        .select_related("pair")
        .order_by("pair_id", "id")
        .first()
    )
    if expected is not None:
        pair_gold_set(pair=expected.pair, answer=_gold_answer(expected))
        added["gold"] = 1
    return added
