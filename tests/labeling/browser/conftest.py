"""Fixtures of the data browser's tests: the quality tests' builder, and planted rows."""

from __future__ import annotations

from typing import Any

import pytest

from labeling.browser import selectors
from labeling.models import Review, ReviewRequest
from tests.labeling.quality.conftest import (  # noqa: F401 - fixtures shared with quality
    Builder,
    annotators,
    build,
    quality_campaign,
)


@pytest.fixture(params=["postgresql", "portable"])
def search_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on PostgreSQL full-text search and on the portable (SQLite) path."""
    if request.param == "portable":
        monkeypatch.setattr(selectors, "is_postgresql", lambda: False)
    return str(request.param)


def _prompt(builder: Builder, text: str, **fields: Any) -> Any:
    prompt = builder.prompt(**fields)
    prompt.messages = [{"role": "user", "content": text}]
    prompt.save(update_fields=["messages"])
    return prompt


@pytest.fixture
def planted(build: Builder, annotators) -> dict[str, Any]:  # noqa: F811
    """Named prompts, candidates and pairs whose filters and searches have known answers."""
    r1, r2, r3, _ = annotators
    garden = _prompt(build, "How do I grow zanzibar tomatoes indoors?")
    island = _prompt(
        build, "Where do quokkas live?", category="cyber/intrusion", intent="malicious"
    )
    plain = _prompt(build, "Tell me about kettles.", intent="dual_use")
    c = {
        "seedlings": build.candidate(
            garden, model="model-x", style="plain", text="Plant the seedlings near a window."
        ),
        "refuse": build.candidate(
            garden, model="model-y", style="refusal", text="I cannot help with gardening."
        ),
        "rottnest": build.candidate(
            island, model="model-x", style="plain", text="Quokkas live on Rottnest Island."
        ),
        "zanzibar": build.candidate(
            island, model="model-y", style="plain", text="Zanzibar is an island, not a habitat."
        ),
        "kettle1": build.candidate(plain, model="model-x", style="plain", text="Kettles boil."),
        "kettle2": build.candidate(plain, model="model-z", style="refusal", text="No."),
    }
    p = {
        "garden": build.pair(c["seedlings"], c["refuse"]),
        "island": build.pair(c["rottnest"], c["zanzibar"]),
        "kettle": build.pair(c["kettle1"], c["kettle2"]),
    }
    # garden: three judgments that agree (B better) → a majority answer
    for rater in (r1, r2, r3):
        build.judge(
            p["garden"],
            rater,
            a=("direct_answer", "none", 3),
            b=("hard_refusal", "none", 1),
            preference=-1,
        )
    # island: opposite preferences, one flag; resolved by a reviewer
    build.judge(p["island"], r1, preference=-2, flags=["needs_expert"])
    build.judge(p["island"], r2, preference=1)
    Review.objects.create(
        pair=p["island"],
        reviewer=annotators[3],
        resolution=Review.Resolution.LABELS,
        final_labels={
            "a": {"response_mode": "direct_answer", "severity": "none", "helpfulness": 4},
            "b": {"response_mode": "other", "severity": "low", "helpfulness": 2},
            "preference": -2,
        },
    )
    # kettle: judged once, gold already
    build.judge(p["kettle"], r1, preference=0)
    p["kettle"].is_gold = True
    p["kettle"].gold_answer = {
        "a": {"severity": "none", "helpfulness": 3},
        "b": {"severity": "none", "helpfulness": 3},
        "preference": 0,
        "severity_tolerance": 0,
        "helpfulness_tolerance": 1,
    }
    p["kettle"].save(update_fields=["is_gold", "gold_answer"])
    for pair in p.values():
        pair.refresh_from_db()
    assert not ReviewRequest.objects.exists()
    return {"prompts": {"garden": garden, "island": island, "plain": plain}, "c": c, "p": p}
