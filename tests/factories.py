"""Rows that several test folders write the same way."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from labeling.models import Judgment, Pair
from policy.models import PolicyVersion

# (response mode, severity, helpfulness) of one side.
SideRating = tuple[str, str, int]


def judgment_create(
    *,
    pair: Pair,
    annotator: User,
    policy_version: PolicyVersion | None,
    a: SideRating,
    b: SideRating,
    preference: int,
    left_is_a: bool = True,
    **fields: Any,
) -> Judgment:
    """A judgment written directly (no claim, no validation): both sides in canonical A/B order."""
    return Judgment.objects.create(
        pair=pair,
        annotator=annotator,
        policy_version=policy_version,
        a_response_mode=a[0],
        a_severity=a[1],
        a_helpfulness=a[2],
        b_response_mode=b[0],
        b_severity=b[1],
        b_helpfulness=b[2],
        preference=preference,
        left_is_a=left_is_a,
        **fields,
    )
