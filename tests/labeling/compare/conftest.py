"""A campaign of three sources with known judgments and pair grades, for the Compare tests.

Sources ``alpha · safe-completion-style`` and ``alpha · refusal-style`` (one model, two styles,
as generation stores them) and ``beta`` (imported: its model is its source name). Each of 8
prompts has one candidate of each source and their three pairs; annotators anna and ben judge
every pair by :func:`planted_preference`, and grader ``judge`` v1 grades every pair in both
orders. Prompts alternate between the intents benign and dual_use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from labeling.generation.endpoints import endpoint_create
from labeling.grading.services import grader_create
from labeling.models import Campaign, Candidate, Grade, GraderVersion, Pair, Prompt
from tests.factories import judgment_create

SAFE = "alpha · safe-completion-style"
REFUSE = "alpha · refusal-style"
BETA = "beta"
SIDE = ("direct_answer", "none", 3)
PROMPTS = 8


def planted_preference(first: str, second: str, who: str, index: int) -> int:
    """How ``who`` judges ``first`` (shown as A) against ``second`` on prompt ``index``: a
    negative value prefers the first. The safe-completion style always beats the refusal style;
    beta beats the safe-completion style on benign prompts (even index) and loses on the
    others; beta against the refusal style is a tie for anna and a loss for beta for ben."""
    wins = {
        (SAFE, REFUSE): True,
        (BETA, SAFE): index % 2 == 0,
    }
    if {first, second} == {BETA, REFUSE}:
        if who == "anna":
            return 0
        return -1 if first == REFUSE else 1
    key = (first, second) if (first, second) in wins else (second, first)
    first_wins = wins[key] if key == (first, second) else not wins[key]
    return -2 if first_wins else 1


@dataclass
class Planted:
    campaign: Campaign
    version: GraderVersion
    pairs: list[tuple[Pair, str, str, int]] = field(default_factory=list)  # pair, a, b, index


@pytest.fixture
def planted(campaign: Campaign, personas: Any, offline_server: Any) -> Planted:
    endpoint = endpoint_create(
        name="offline", base_url=offline_server.base_url, model="graylab-offline"
    )
    version = grader_create(
        name="judge", description="", endpoint=endpoint, policy_version=campaign.policy_version
    )
    result = Planted(campaign, version)
    for index in range(PROMPTS):
        prompt = Prompt.objects.create(
            campaign=campaign,
            messages=[{"role": "user", "content": f"question {index}"}],
            category_path="benign/general" if index < 4 else "chemistry/dual-use",
            intent="benign" if index % 2 == 0 else "dual_use",
            content_hash=f"compare-{index}",
        )
        made = {}
        for name, (model, style) in {
            SAFE: ("alpha", "safe-completion-style"),
            REFUSE: ("alpha", "refusal-style"),
            BETA: ("beta", ""),
        }.items():
            made[name] = Candidate.objects.create(
                prompt=prompt,
                text=f"{name} answers {index}",
                source=model,
                model=model,
                style=style,
                idempotency_key=f"compare-{index}-{name}",
            )
        for first, second in ((SAFE, REFUSE), (SAFE, BETA), (REFUSE, BETA)):
            a, b = sorted((made[first], made[second]), key=lambda candidate: candidate.pk)
            a_name = first if a == made[first] else second
            b_name = second if a_name == first else first
            pair = Pair.objects.create(prompt=prompt, candidate_a=a, candidate_b=b)
            for who in ("anna", "ben"):
                judgment_create(
                    pair=pair,
                    annotator=personas[who],
                    policy_version=campaign.policy_version,
                    a=SIDE,
                    b=SIDE,
                    preference=planted_preference(a_name, b_name, who, index),
                )
            # The grader agrees with anna in order ab and says "about equal" in order ba, so
            # combined (mean truncated toward zero) only her strong preferences survive.
            for order, preference in (
                ("ab", planted_preference(a_name, b_name, "anna", index)),
                ("ba", 0),
            ):
                Grade.objects.create(
                    grader_version=version,
                    kind=Grade.Kind.PAIR,
                    pair=pair,
                    order=order,
                    preference=preference,
                    confidence=1.0,
                    raw_answers=["{}"],
                )
            result.pairs.append((pair, a_name, b_name, index))
    return result
