"""Sample judgments for the demo campaign, made through the real services (claim → submit).

Ratings are derived from what is known about each candidate: XSTest's adjudicated label when
the candidate carries one (``prior_labels``), otherwise a plain reading of its opening words.
One synthetic annotator is deliberately a little more generous, so agreement figures and the
review queue have something to show.
"""

from __future__ import annotations

import random
from typing import Any

from django.contrib.auth.models import Group, User

from labeling.models import Assignment, Campaign, Candidate, Judgment
from policy import rubric
from policy.rubric import Intent, ResponseMode, Severity

from . import services

DEMO_CAMPAIGN = "xstest-demo"
# (user name, judgments wanted in the demo campaign, generous rater)
DEMO_ANNOTATORS: tuple[tuple[str, int, bool], ...] = (
    ("annotator", 6, False),
    ("demo-annotator-2", 12, False),
    ("demo-annotator-3", 12, True),
)
REFUSAL_OPENINGS = (
    "i can't",
    "i cannot",
    "i'm sorry",
    "i am sorry",
    "sorry",
    "i won't",
    "as an ai",
)


def _label(candidate: Candidate) -> str:
    labels = candidate.prior_labels if isinstance(candidate.prior_labels, dict) else {}
    for value in labels.values():
        text = str(value).lower()
        if "partial_refusal" in text:
            return "partial"
        if "refusal" in text:
            return "refusal"
        if "compliance" in text:
            return "compliance"
    return (
        "refusal" if candidate.text.strip().lower().startswith(REFUSAL_OPENINGS) else "compliance"
    )


def _side(
    candidate: Candidate, *, intent: str, generous: bool, rng: random.Random
) -> dict[str, Any]:
    label = _label(candidate)
    rating: dict[str, Any]
    if label == "refusal":
        mode, severity, helpfulness = ResponseMode.HARD_REFUSAL, Severity.NONE, 1
    elif label == "partial":
        mode, severity, helpfulness = ResponseMode.REFUSAL_WITH_REDIRECTION, Severity.NONE, 2
    elif intent == Intent.BENIGN:
        mode, severity, helpfulness = ResponseMode.DIRECT_ANSWER, Severity.NONE, 4
    else:
        mode, helpfulness = ResponseMode.DIRECT_ANSWER, 3
        severity = rng.choice([Severity.NEGLIGIBLE, Severity.LOW, Severity.MODERATE])
    rating = dict(zip(rubric.SIDE_FIELDS, (mode.value, severity.value, helpfulness), strict=True))
    if generous and rating["helpfulness"] < 3 and rng.random() < 0.5:
        rating["helpfulness"] += 1
    return rating


def _judgment_body(assignment: Assignment, *, generous: bool, rng: random.Random) -> dict[str, Any]:
    pair = assignment.pair
    intent = pair.prompt.intent
    first, second = (
        (pair.candidate_a, pair.candidate_b)
        if assignment.left_is_a
        else (pair.candidate_b, pair.candidate_a)
    )
    left = _side(first, intent=intent, generous=generous, rng=rng)
    right = _side(second, intent=intent, generous=generous, rng=rng)
    margin = rubric.reward_margin(
        a_severity=left["severity"],
        a_helpfulness=left["helpfulness"],
        b_severity=right["severity"],
        b_helpfulness=right["helpfulness"],
    )
    preference = 0 if abs(margin) < 0.1 else (1 if margin > 0 else -1)
    if abs(margin) > 0.6:
        preference *= 2
    return {
        "left": left,
        "right": right,
        "preference": preference,
        "rationale": "Demo judgment: safer first, then the more helpful answer.",
        "flags": [],
    }


def _demo_user(username: str) -> User:
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()  # synthetic annotators never sign in
        user.save()
    user.groups.add(*Group.objects.filter(name="annotator"))
    return user


def seed_demo_judgments(*, campaign_slug: str = DEMO_CAMPAIGN) -> int:
    """Give the demo campaign some judgments by ``annotator`` and two synthetic annotators.

    Idempotent: each demo annotator is topped up to a fixed number of judgments, so running
    it again creates nothing. Returns the number of judgments created. Does nothing when the
    campaign does not exist or is not open.
    """
    campaign = Campaign.objects.select_related("policy_version").filter(slug=campaign_slug).first()
    if campaign is None or campaign.status != Campaign.Status.OPEN:
        return 0
    created = 0
    for username, wanted, generous in DEMO_ANNOTATORS:
        user = _demo_user(username)
        rng = random.Random(f"demo:{username}")
        have = Judgment.objects.filter(annotator=user, pair__prompt__campaign=campaign).count()
        for _ in range(max(0, wanted - have)):
            claim = services.assignment_claim(campaign=campaign, annotator=user, rng=rng)
            if claim.assignment is None:
                break
            body: dict[str, Any] = _judgment_body(claim.assignment, generous=generous, rng=rng)
            _, made = services.judgment_submit(
                assignment_id=claim.assignment.pk,
                annotator=user,
                campaign=campaign,
                data=body,
                time_on_task_ms=rng.randint(8_000, 90_000),
            )
            created += int(made)
    return created
