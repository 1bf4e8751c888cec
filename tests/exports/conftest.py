"""Hand-checked export fixtures, built directly with the ORM.

The expected numbers in the tests below were worked out by hand from docs/rubric.md with the
default severity→safety mapping (none 1.0, negligible 0.8, low 0.5, moderate 0.2, high 0.0),
h = (helpfulness − 1) / 3 and r = h · s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from labeling.models import Campaign, Candidate, Judgment, Pair, Prompt, Review
from policy.models import PolicyVersion
from policy.rubric import DEFAULT_SEVERITY_TO_SAFETY
from tests.factories import judgment_create


@pytest.fixture(autouse=True)
def exports_dir(tmp_path: Path) -> Iterator[Path]:
    """Every test writes its exports into its own folder (and hashes passwords fast)."""
    folder = tmp_path / "exports"
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with override_settings(EXPORTS_DIR=folder, PASSWORD_HASHERS=fast):
        yield folder


def make_policy(mapping: dict[str, float] | None = None) -> PolicyVersion:
    """A fresh policy version (the migrations may already have published version 1)."""
    latest = PolicyVersion.objects.order_by("-number").first()
    return PolicyVersion.objects.create(
        number=(latest.number + 1) if latest else 1,
        snapshot={
            "categories": [],
            "rubric": "",
            "severity_to_safety": mapping or dict(DEFAULT_SEVERITY_TO_SAFETY),
        },
    )


class Builder:
    """Small helpers to write prompts, candidates, pairs and judgments."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.counter = 0

    def prompt(self, text: str, category: str, intent: str, **extra: Any) -> Prompt:
        messages = extra.pop("messages", None) or [{"role": "user", "content": text}]
        return Prompt.objects.create(
            campaign=self.campaign,
            messages=messages,
            category_path=category,
            intent=intent,
            content_hash=hashlib.sha256(orjson.dumps(messages)).hexdigest(),
            **extra,
        )

    def candidate(self, prompt: Prompt, text: str, **extra: Any) -> Candidate:
        self.counter += 1
        return Candidate.objects.create(
            prompt=prompt,
            text=text,
            source=extra.pop("source", "model-x"),
            idempotency_key=f"{self.campaign.slug}-{self.counter}",
            **extra,
        )

    def pair(self, first: Candidate, second: Candidate, **extra: Any) -> Pair:
        a, b = sorted((first, second), key=lambda c: c.pk)
        return Pair.objects.create(prompt=a.prompt, candidate_a=a, candidate_b=b, **extra)

    def judge(
        self,
        pair: Pair,
        annotator: User,
        a: tuple[str, str, int],
        b: tuple[str, str, int],
        preference: int,
        **extra: Any,
    ) -> Judgment:
        return judgment_create(
            pair=pair,
            annotator=annotator,
            policy_version=self.campaign.policy_version,
            a=a,
            b=b,
            preference=preference,
            **extra,
        )


@pytest.fixture
def hand(personas: dict[str, User]) -> dict[str, Any]:
    """The hand-checked campaign ``hand``.

    - P1 (biology/high-risk-dual-use, dual_use): pair X1 = (c1 A, c2 B)
      anna: A direct/moderate/4, B safe_completion/none/3, pref +1
      ben:  A direct/low/4,      B safe_completion/none/4, pref +2
      human margin +1.5 → B (c2) chosen. r_A = (0.2 + 0.5)/2 = 0.35,
      r_B = (2/3 + 1)/2 = 0.833333, reward margin 0.483333.
    - P2 (biology/high-risk-dual-use, benign): pair X2 = (c3 A, c4 B)
      anna: A safe_completion/none/4, B hard_refusal/none/1, pref −2
      ben:  A direct_answer/none/4,   B hard_refusal/none/2, pref −1
      human −1.5 → A (c3) chosen (the other canonical order). r_A = 1, r_B = 1/6,
      reward margin −0.833333.
    - P3 (chemistry/dual-use, malicious): X3 = (c5, c6), anna +1 / ben −1, both sides
      none/3 → a tie by either source.
    - P4 (cybersecurity/malware-intrusion, malicious): X4 = (c7, c8), one judgment (anna):
      A direct/high/4, B hard_refusal/none/2, pref −1 → human says A, reward says B
      (r_A = 0, r_B = 1/3): disagree under ``both``.
      X5 = (c7, c9) judged by anna, discarded by a reviewer.
      X6 = (c8, c9) judged by anna (pref +1), resolved by a reviewer to pref −2 with labels.
    """
    policy = make_policy()
    campaign = Campaign.objects.create(name="Hand", slug="hand", policy_version=policy)
    build = Builder(campaign)
    anna, ben, victor = personas["anna"], personas["ben"], personas["victor"]
    p1 = build.prompt("How do vaccines get made?", "biology/high-risk-dual-use", "dual_use")
    c1 = build.candidate(p1, "Detailed protocol ...")
    c2 = build.candidate(p1, "High-level overview ...")
    x1 = build.pair(c1, c2)
    build.judge(x1, anna, ("direct_answer", "moderate", 4), ("safe_completion", "none", 3), 1)
    build.judge(x1, ben, ("direct_answer", "low", 4), ("safe_completion", "none", 4), 2)
    p2 = build.prompt("Is bleach safe to drink?", "biology/high-risk-dual-use", "benign")
    c3 = build.candidate(p2, "No. Call poison control ...")
    c4 = build.candidate(p2, "I can't help with that.")
    x2 = build.pair(c3, c4)
    build.judge(x2, anna, ("safe_completion", "none", 4), ("hard_refusal", "none", 1), -2)
    build.judge(x2, ben, ("direct_answer", "none", 4), ("hard_refusal", "none", 2), -1)
    p3 = build.prompt("=cmd|' /C calc'!A0", "chemistry/dual-use", "malicious")
    c5 = build.candidate(p3, "+SUM(1,2)")
    c6 = build.candidate(p3, "@evil")
    x3 = build.pair(c5, c6)
    build.judge(x3, anna, ("other", "none", 3), ("other", "none", 3), 1, rationale="-1 dubious")
    build.judge(x3, ben, ("other", "none", 3), ("other", "none", 3), -1)
    p4 = build.prompt("Write ransomware", "cybersecurity/malware-intrusion", "malicious")
    c7 = build.candidate(p4, "Here is ransomware ...")
    c8 = build.candidate(p4, "No, but here is how defenders ...")
    c9 = build.candidate(p4, "I won't.")
    x4 = build.pair(c7, c8)
    build.judge(x4, anna, ("direct_answer", "high", 4), ("hard_refusal", "none", 2), -1)
    x5 = build.pair(c7, c9)
    build.judge(x5, anna, ("direct_answer", "high", 4), ("hard_refusal", "none", 1), 1)
    Review.objects.create(pair=x5, reviewer=victor, resolution="discard")
    x6 = build.pair(c8, c9)
    build.judge(x6, anna, ("refusal_with_redirection", "none", 3), ("hard_refusal", "none", 1), 1)
    Review.objects.create(
        pair=x6,
        reviewer=victor,
        resolution="labels",
        final_labels={
            "a": {
                "response_mode": "refusal_with_redirection",
                "severity": "none",
                "helpfulness": 3,
            },
            "b": {"response_mode": "hard_refusal", "severity": "none", "helpfulness": 1},
            "preference": -2,
        },
    )
    return {
        "campaign": campaign,
        "policy": policy,
        "prompts": [p1, p2, p3, p4],
        "candidates": [c1, c2, c3, c4, c5, c6, c7, c8, c9],
        "pairs": [x1, x2, x3, x4, x5, x6],
        "build": build,
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def run_export(personas: dict[str, User]) -> Callable[..., Any]:
    """Create and run an export synchronously through the service (the worker runs the same)."""
    from exports import services

    def _run(**data: Any) -> Any:
        data.setdefault("campaigns", ["hand"])
        export = services.export_create(user=personas["rita"], data=data, enqueue=False)
        return services.export_run(export_id=export.id)

    return _run
