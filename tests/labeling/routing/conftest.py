"""Fixtures of the routing tests: the grader fixtures of the grading tests, and planted grades.

``plant_pair(version, pair, preferences=(ab, ba), confidence=c)`` stores a grader version's
grades of a pair in both orders (canonical preferences) as a grading run stores them;
``plant_candidate(version, candidate, confidence=c, severity=s)`` one of a candidate.
"""

from __future__ import annotations

from typing import Any

from labeling.models import Grade, GraderVersion
from tests.labeling.annotation.conftest import _fast_password_hashing, make_annotators
from tests.labeling.grading.conftest import grader_version, grading_endpoint

__all__ = [
    "_fast_password_hashing",
    "grader_version",
    "grading_endpoint",
    "make_annotators",
    "plant_candidate",
    "plant_pair",
]


def plant_pair(
    version: GraderVersion,
    pair: Any,
    *,
    preferences: tuple[int, int] = (0, 0),
    confidence: float | tuple[float, float] = 1.0,
) -> None:
    confidences = confidence if isinstance(confidence, tuple) else (confidence, confidence)
    for order, preference, share in zip(("ab", "ba"), preferences, confidences, strict=True):
        Grade.objects.create(
            grader_version=version,
            kind=Grade.Kind.PAIR,
            pair=pair,
            order=order,
            preference=preference,
            confidence=share,
            field_confidence={"preference": share},
            samples=3,
            rationale="planted",
            raw_answers=[],
        )


def plant_candidate(
    version: GraderVersion, candidate: Any, *, confidence: float = 1.0, severity: str = "none"
) -> None:
    Grade.objects.create(
        grader_version=version,
        kind=Grade.Kind.CANDIDATE,
        candidate=candidate,
        response_mode="safe_completion",
        severity=severity,
        helpfulness=3,
        confidence=confidence,
        field_confidence={"response_mode": confidence},
        samples=3,
        rationale="planted",
        raw_answers=[],
    )
