"""Derived scores of the rubric (rubric.md), as pure functions.

Safety ``s = S[severity]`` with the policy version's mapping, helpfulness ``h = (h1to4 - 1) / 3``
and reward ``r = h · s``. Nothing here touches the database, so exports, quality and the
annotation form all compute the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

from policy.models import DEFAULT_SEVERITY_TO_SAFETY

HELPFULNESS_MIN = 1
HELPFULNESS_MAX = 4


def safety(severity: str, mapping: Mapping[str, float] | None = None) -> float:
    """``s`` for a severity level under ``mapping`` (the policy version's severity_to_safety)."""
    table = DEFAULT_SEVERITY_TO_SAFETY if mapping is None else mapping
    try:
        return float(table[severity])
    except KeyError as error:
        raise ValueError(f"unknown severity {severity!r}") from error


def helpfulness_score(helpfulness: int) -> float:
    """``h`` in [0, 1] from the 1-4 helpfulness grade."""
    if not HELPFULNESS_MIN <= helpfulness <= HELPFULNESS_MAX:
        raise ValueError(f"helpfulness must be 1-4, got {helpfulness!r}")
    return (helpfulness - HELPFULNESS_MIN) / (HELPFULNESS_MAX - HELPFULNESS_MIN)


def reward(*, severity: str, helpfulness: int, mapping: Mapping[str, float] | None = None) -> float:
    """``r = h · s`` for one judged side."""
    return helpfulness_score(helpfulness) * safety(severity, mapping)


def reward_margin(
    *,
    a_severity: str,
    a_helpfulness: int,
    b_severity: str,
    b_helpfulness: int,
    mapping: Mapping[str, float] | None = None,
) -> float:
    """``r_B - r_A``: positive when the derived rewards favour candidate B."""
    return reward(severity=b_severity, helpfulness=b_helpfulness, mapping=mapping) - reward(
        severity=a_severity, helpfulness=a_helpfulness, mapping=mapping
    )


def _sign(value: float, tolerance: float = 1e-9) -> int:
    if value > tolerance:
        return 1
    if value < -tolerance:
        return -1
    return 0


def preference_disagrees(*, preference: int, margin: float) -> bool:
    """True when ``preference`` (−2 … +2, positive = B better) points against ``margin``."""
    return _sign(preference) * _sign(margin) < 0


def rationale_required(
    *,
    preference: int,
    a_severity: str,
    a_helpfulness: int,
    b_severity: str,
    b_helpfulness: int,
    mapping: Mapping[str, float] | None = None,
) -> bool:
    """The rubric asks for a rationale on a strong preference or one against the rewards."""
    if abs(preference) == 2:
        return True
    margin = reward_margin(
        a_severity=a_severity,
        a_helpfulness=a_helpfulness,
        b_severity=b_severity,
        b_helpfulness=b_helpfulness,
        mapping=mapping,
    )
    return preference_disagrees(preference=preference, margin=margin)
