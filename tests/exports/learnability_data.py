"""Planted preference campaigns for the learnability tests: who is preferred is decided by a
rule the test knows (a keyword, or the length), written in bulk."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import orjson

from labeling.models import Campaign, Candidate, Pair, Prompt

from .conftest import make_policy

WORDS = (
    "the", "answer", "explains", "general", "principles", "without", "operational", "detail",
    "and", "points", "to", "safe", "resources", "while", "declining", "specific", "harmful",
    "steps", "requested", "by", "a", "user", "in", "question", "about", "chemistry", "biology",
    "security", "privacy", "money", "health", "law", "travel", "cooking",
)  # fmt: skip
CATEGORIES = ("biology/low-risk-dual-use", "weapons/conventional")
KEYWORD = "kindly"
SPLITS = {"train": 0.5, "validation": 0.25, "test": 0.25}


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def planted_campaign(
    slug: str, *, pairs: int, rule: str, seed: int = 5, flipped: int = 0
) -> dict[str, Any]:
    """A campaign of ``pairs`` prompts with one pair each, its prior preference decided by
    ``rule``: ``keyword`` (the chosen answer carries a keyword; same lengths on average),
    ``length`` (the chosen answer is longer, words drawn alike) or ``random`` (no signal).
    The first ``flipped`` pairs carry the wrong preference. Returns the campaign and the ids
    of the flipped pairs."""
    rng = random.Random(seed)
    campaign = Campaign.objects.create(name=slug, slug=slug, policy_version=make_policy())
    prompts = []
    for index in range(pairs):
        messages = [{"role": "user", "content": f"{_words(rng, 8)} question {index}"}]
        prompts.append(
            Prompt(
                campaign=campaign,
                messages=messages,
                category_path=CATEGORIES[index % len(CATEGORIES)],
                intent="benign",
                content_hash=hashlib.sha256(orjson.dumps(messages)).hexdigest(),
            )
        )
    Prompt.objects.bulk_create(prompts)
    candidates = []
    good_is_a = []
    for index, prompt in enumerate(prompts):
        if rule == "length":
            good, bad = _words(rng, rng.randint(40, 60)), _words(rng, rng.randint(8, 20))
        else:
            good, bad = _words(rng, rng.randint(10, 30)), _words(rng, rng.randint(10, 30))
            if rule == "keyword":
                good = f"{good} {KEYWORD}"
        first_good = rng.random() < 0.5
        good_is_a.append(first_good)
        for number, text in enumerate((good, bad) if first_good else (bad, good)):
            candidates.append(
                Candidate(
                    prompt=prompt,
                    text=f"{text} ({index}.{number})",
                    source="planted",
                    idempotency_key=f"{slug}-{index}-{number}",
                )
            )
    Candidate.objects.bulk_create(candidates)
    rows = []
    for index, prompt in enumerate(prompts):
        a, b = candidates[2 * index], candidates[2 * index + 1]
        preference = -2.0 if good_is_a[index] else 2.0
        if index < flipped:
            preference = -preference
        rows.append(
            Pair(
                prompt=prompt,
                campaign=campaign,
                candidate_a=a,
                candidate_b=b,
                prior_preference=preference,
            )
        )
    Pair.objects.bulk_create(rows)
    return {"campaign": campaign, "flipped": {str(pair.pk) for pair in rows[:flipped]}}


def export_data(slug: str, export_format: str = "trl-preference", **extra: Any) -> dict[str, Any]:
    return {
        "format": export_format,
        "campaigns": [slug],
        "label_sources": ["prior"],
        "split_ratios": SPLITS,
        "seed": 11,
        **extra,
    }
