"""Train/validation/test assignment by prompt, from a seeded hash of the prompt's content.

Hashing the normalised content (not the row id) keeps exact-duplicate prompts — even across
campaigns — in the same split, and the seed makes the assignment reproducible and changeable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from .spec import SPLITS

_SCALE = float(2**64)


def split_for(content_hash: str, *, seed: int, ratios: Mapping[str, float]) -> str:
    """The split of a prompt: a uniform draw in [0, 1) from sha256(seed, content) vs the ratios."""
    digest = hashlib.sha256(f"{seed}:{content_hash}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / _SCALE
    cumulative = 0.0
    last = SPLITS[0]
    for split in SPLITS:
        share = ratios.get(split, 0.0)
        if share <= 0:
            continue
        cumulative += share
        last = split
        if draw < cumulative:
            return split
    return last  # rounding: the draw fell past a sum of 0.999…
