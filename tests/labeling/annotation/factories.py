"""Builders shared by the annotation tests (and the browser tests in tests/e2e/)."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from django.contrib.auth.models import Group

from labeling.models import Campaign, Candidate, Pair, Prompt

_counter = itertools.count()
ROLES = ("annotator", "reviewer", "researcher", "admin")


def ensure_roles() -> None:
    """The role groups (a transactional test's flush removes the migration's rows)."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def build_pairs(
    campaign: Campaign,
    count: int,
    *,
    gold: int = 0,
    text: str = "",
    texts: tuple[str, str] | None = None,
    messages: list[dict[str, str]] | None = None,
) -> list[Pair]:
    """``count`` prompts with two candidates and one pair each; the first ``gold`` are gold."""
    batch = next(_counter)
    prompts = Prompt.objects.bulk_create(
        Prompt(
            campaign=campaign,
            messages=messages or [{"role": "user", "content": f"Question {batch}-{index}?"}],
            category_path="biology/low-risk-dual-use",
            intent="dual_use",
            external_id=f"bulk-{batch}-{index}-{campaign.pk}",
            content_hash=hashlib.sha256(f"{campaign.pk}-{batch}-{index}".encode()).hexdigest(),
        )
        for index in range(count)
    )
    candidates = Candidate.objects.bulk_create(
        Candidate(
            prompt=prompt,
            text=(texts[0 if side == "x" else 1] if texts else "")
            or text
            or f"Answer {side} to {prompt.external_id}",
            source=f"model-{side}",
            idempotency_key=f"{prompt.external_id}-{side}",
        )
        for prompt in prompts
        for side in ("x", "y")
    )
    return Pair.objects.bulk_create(
        Pair(
            prompt=prompts[index],
            campaign=campaign,
            candidate_a=candidates[2 * index],
            candidate_b=candidates[2 * index + 1],
            is_gold=index < gold,
        )
        for index in range(count)
    )


def payload(
    *,
    left: tuple[str, str, int] = ("safe_completion", "none", 3),
    right: tuple[str, str, int] = ("direct_answer", "none", 4),
    preference: int = 1,
    rationale: str = "",
    flags: list[str] | None = None,
    flag_note: str = "",
) -> dict[str, Any]:
    """A judgment body in shown order (defaults: valid, right slightly better, no rationale)."""
    return {
        "left": dict(zip(("response_mode", "severity", "helpfulness"), left, strict=True)),
        "right": dict(zip(("response_mode", "severity", "helpfulness"), right, strict=True)),
        "preference": preference,
        "rationale": rationale,
        "flags": flags or [],
        "flag_note": flag_note,
    }


def form_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The same body as the pair page's flat form fields."""
    fields: dict[str, Any] = {}
    for side in ("left", "right"):
        for name, value in body[side].items():
            fields[f"{side}_{name}"] = value
    fields["preference"] = body["preference"]
    fields["rationale"] = body.get("rationale", "")
    fields["flags"] = body.get("flags", [])
    fields["flag_note"] = body.get("flag_note", "")
    return fields
