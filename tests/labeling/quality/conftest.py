"""Fixtures for the quality tests: a campaign and a small builder writing rows via the ORM."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.contrib.auth.models import User

from labeling.models import Campaign, Candidate, Judgment, Pair, Prompt
from policy.models import PolicyVersion
from tests.factories import judgment_create

_counter = itertools.count(1)


class Builder:
    """Creates prompts, candidates, pairs and judgments of one campaign directly."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign

    def prompt(
        self, *, category: str = "biology/low-risk-dual-use", intent: str = "benign"
    ) -> Prompt:
        number = next(_counter)
        return Prompt.objects.create(
            campaign=self.campaign,
            messages=[{"role": "user", "content": f"question {number}"}],
            category_path=category,
            intent=intent,
            external_id=f"q{number}",
            content_hash=f"hash-{number}",
        )

    def candidate(
        self,
        prompt: Prompt,
        *,
        style: str = "",
        model: str = "model-x",
        text: str | None = None,
        prior_labels: dict[str, Any] | None = None,
    ) -> Candidate:
        number = next(_counter)
        return Candidate.objects.create(
            prompt=prompt,
            text=text if text is not None else f"answer {number}",
            source=model,
            model=model,
            style=style,
            idempotency_key=f"key-{number}",
            prior_labels=prior_labels or {},
        )

    def pair(self, first: Candidate, second: Candidate, **fields: Any) -> Pair:
        a, b = sorted((first, second), key=lambda candidate: candidate.pk)
        return Pair.objects.create(prompt=a.prompt, candidate_a=a, candidate_b=b, **fields)

    def judge(
        self,
        pair: Pair,
        annotator: User,
        *,
        a: tuple[str, str, int] = ("direct_answer", "none", 3),
        b: tuple[str, str, int] = ("direct_answer", "none", 3),
        preference: int = 0,
        left_is_a: bool = True,
        flags: list[str] | None = None,
        time_on_task_ms: int | None = 1000,
    ) -> Judgment:
        judgment = judgment_create(
            pair=pair,
            annotator=annotator,
            policy_version=self.campaign.policy_version,
            a=a,
            b=b,
            preference=preference,
            left_is_a=left_is_a,
            flags=flags or [],
            time_on_task_ms=time_on_task_ms,
        )
        Pair.objects.filter(pk=pair.pk).update(judgment_count=pair.judgments.count())
        return judgment


def make_campaign(policy_version: PolicyVersion, slug: str = "quality") -> Campaign:
    return Campaign.objects.create(
        name=f"Quality {slug}",
        slug=slug,
        policy_version=policy_version,
        judgments_per_pair=3,
        status=Campaign.Status.OPEN,
        gold_rate=0.1,
        gold_accuracy_threshold=0.8,
    )


@pytest.fixture
def quality_campaign(policy_version: PolicyVersion) -> Campaign:
    return make_campaign(policy_version)


@pytest.fixture
def build(quality_campaign: Campaign) -> Builder:
    return Builder(quality_campaign)


@pytest.fixture
def annotators(db: None) -> list[User]:
    """Four annotators beyond the personas, for agreement figures (no password: hashing
    one costs a second on a busy machine and these never sign in)."""
    from django.contrib.auth.models import Group

    group, _ = Group.objects.get_or_create(name="annotator")
    users = []
    for index in range(1, 5):
        user = User(username=f"rater{index}")
        user.set_unusable_password()
        user.save()
        user.groups.add(group)
        users.append(user)
    return users
