"""Checking a judgment as the annotator entered it (shown order), for the form and the API alike.

One function, ``judgment_clean``, answers every bad field with a clear message; the service
saves nothing unless it passes. Input is in the order the annotator saw: ``left``/``right``,
and ``preference`` negative when the left side is better.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from policy import rubric
from policy.rubric import (
    CANONICAL_SIDES,
    FLAG_NOTE_MAX_LENGTH,
    HELPFULNESS_MAX,
    HELPFULNESS_MIN,
    PREFERENCE_MAX,
    PREFERENCE_MIN,
    RATIONALE_MAX_LENGTH,
    REFUSAL_HELPFULNESS_MAX,
    REFUSAL_MODES,
    SHOWN_SIDES,
    SIDE_FIELDS,
    Flag,
    ResponseMode,
    Severity,
    side_field,
)

MAX_TIME_ON_TASK_MS = 24 * 3600 * 1000

Errors = dict[str, Any]


class JudgmentInvalid(Exception):
    """Bad input: ``errors`` maps each bad field (nested for sides) to a list of messages."""

    def __init__(self, errors: Errors) -> None:
        super().__init__("invalid judgment")
        self.errors = errors

    def flat(self) -> dict[str, str]:
        """``{"left_severity": "…", "preference": "…"}``: one message per form field name."""
        flat: dict[str, str] = {}
        for key, value in self.errors.items():
            if isinstance(value, Mapping):
                for sub, messages in value.items():
                    flat[f"{key}_{sub}"] = " ".join(messages)
            else:
                flat[key] = " ".join(value)
        return flat


@dataclass(frozen=True)
class SideRating:
    response_mode: str
    severity: str
    helpfulness: int


@dataclass(frozen=True)
class CleanJudgment:
    """A valid judgment in shown order."""

    left: SideRating
    right: SideRating
    preference: int
    rationale: str = ""
    flags: list[str] = field(default_factory=list)
    flag_note: str = ""

    def canonical(self, *, left_is_a: bool) -> dict[str, Any]:
        """The Judgment fields in the pair's canonical order (A, B)."""
        stored = (self.left, self.right) if left_is_a else (self.right, self.left)
        return {
            **{
                side_field(side, name): getattr(rating, name)
                for side, rating in zip(CANONICAL_SIDES, stored, strict=True)
                for name in SIDE_FIELDS
            },
            # Shown "right better" is positive; canonical "B better" is positive.
            "preference": self.preference if left_is_a else -self.preference,
            "rationale": self.rationale,
            "flags": list(self.flags),
            "flag_note": self.flag_note,
            "left_is_a": left_is_a,
        }


def _choice(value: Any, choices: list[str], label: str) -> tuple[str | None, str | None]:
    if value in (None, ""):
        return None, f"Choose the {label}."
    if not isinstance(value, str) or value not in choices:
        return None, f"{value!r} is not a valid {label}; choose one of {', '.join(choices)}."
    return value, None


def _integer(value: Any, low: int, high: int, label: str) -> tuple[int | None, str | None]:
    if value in (None, ""):
        return None, f"Choose the {label} ({low} to {high})."
    if isinstance(value, bool):
        return None, f"The {label} must be a whole number from {low} to {high}."
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None, f"The {label} must be a whole number from {low} to {high}."
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        return None, f"The {label} must be a whole number from {low} to {high}, not {value!r}."
    return value, None


def _text(value: Any, limit: int, label: str) -> tuple[str, str | None]:
    if value is None:
        return "", None
    if not isinstance(value, str):
        return "", f"The {label} must be text."
    value = value.strip()
    if "\x00" in value:
        return "", f"The {label} contains a NUL character."
    if len(value) > limit:
        return "", f"The {label} is too long ({len(value)} characters; at most {limit})."
    return value, None


def judgment_clean(data: Any, *, severity_to_safety: Mapping[str, float]) -> CleanJudgment:
    """Validate a judgment in shown order; raise ``JudgmentInvalid`` naming every bad field."""
    if not isinstance(data, Mapping):
        raise JudgmentInvalid({"non_field_errors": ["Send a JSON object."]})
    errors: Errors = {}
    sides: dict[str, SideRating] = {}
    for side in SHOWN_SIDES:
        raw = data.get(side)
        if not isinstance(raw, Mapping):
            errors[side] = {"non_field_errors": [f"Rate the {side} response (an object)."]}
            continue
        side_errors: dict[str, list[str]] = {}
        mode, problem = _choice(raw.get("response_mode"), ResponseMode.values, "response mode")
        if problem:
            side_errors["response_mode"] = [problem]
        severity, problem = _choice(raw.get("severity"), Severity.values, "severity")
        if problem:
            side_errors["severity"] = [problem]
        helpfulness, problem = _integer(
            raw.get("helpfulness"), HELPFULNESS_MIN, HELPFULNESS_MAX, "helpfulness"
        )
        if problem:
            side_errors["helpfulness"] = [problem]
        elif (
            mode in REFUSAL_MODES
            and helpfulness is not None
            and helpfulness > REFUSAL_HELPFULNESS_MAX
        ):
            side_errors["helpfulness"] = [
                f"A refusal or redirect scores at most {REFUSAL_HELPFULNESS_MAX} on helpfulness."
            ]
        if side_errors:
            errors[side] = side_errors
        elif mode is not None and severity is not None and helpfulness is not None:
            sides[side] = SideRating(mode, severity, helpfulness)

    preference, problem = _integer(
        data.get("preference"), PREFERENCE_MIN, PREFERENCE_MAX, "preference"
    )
    if problem:
        errors["preference"] = [problem]
    rationale, problem = _text(data.get("rationale"), RATIONALE_MAX_LENGTH, "rationale")
    if problem:
        errors["rationale"] = [problem]
    flag_note, problem = _text(data.get("flag_note"), FLAG_NOTE_MAX_LENGTH, "flag note")
    if problem:
        errors["flag_note"] = [problem]

    raw_flags = data.get("flags") or []
    flags: list[str] = []
    if isinstance(raw_flags, str):
        raw_flags = [raw_flags]
    if not isinstance(raw_flags, list | tuple):
        errors["flags"] = ["Flags must be a list."]
    else:
        unknown = [repr(flag) for flag in raw_flags if flag not in Flag.values]
        if unknown:
            errors["flags"] = [
                f"Unknown flag {', '.join(unknown)}; choose from {', '.join(Flag.values)}."
            ]
        else:
            flags = sorted(set(raw_flags), key=Flag.values.index)
    if Flag.OTHER in flags and not flag_note and "flag_note" not in errors:
        errors["flag_note"] = ["Say what the problem is when you flag “other”."]

    needs_rationale = False
    if preference is not None and not rationale and "rationale" not in errors:
        if abs(preference) == PREFERENCE_MAX:
            needs_rationale = True
        elif "left" in sides and "right" in sides:
            needs_rationale = rubric.rationale_required(
                # Shown order: right plays B, so a positive preference means "right better".
                preference=preference,
                a_severity=sides["left"].severity,
                a_helpfulness=sides["left"].helpfulness,
                b_severity=sides["right"].severity,
                b_helpfulness=sides["right"].helpfulness,
                mapping=severity_to_safety,
            )
    if needs_rationale:
        assert preference is not None
        reason = (
            "a strong preference (±2)"
            if abs(preference) == PREFERENCE_MAX
            else "a preference that goes against your severity and helpfulness ratings"
        )
        errors["rationale"] = [f"Write a short rationale: the rubric asks for one on {reason}."]

    if errors:
        raise JudgmentInvalid(errors)
    assert preference is not None
    return CleanJudgment(
        left=sides["left"],
        right=sides["right"],
        preference=preference,
        rationale=rationale,
        flags=flags,
        flag_note=flag_note,
    )


def time_on_task_clean(value: Any) -> int | None:
    """The UI's measured time on task, or None when missing or implausible."""
    number, problem = _integer(value, 0, MAX_TIME_ON_TASK_MS, "time on task")
    return None if problem else number
