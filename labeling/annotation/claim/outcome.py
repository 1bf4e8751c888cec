"""What one claim (or submit + claim) answers, whichever path ran it."""

from __future__ import annotations

from dataclasses import dataclass

from labeling.models import Assignment


@dataclass(frozen=True)
class Outcome:
    """What one claim did: the lease it holds (or why none), and the judgment a submit before
    it wrote (the fields after ``reason`` stay None for a claim on its own)."""

    assignment: Assignment | None
    # "ok", "daily_cap", "budget" (the campaign's human budget is used up), "done", or "race"
    # (a concurrent claim got the slot first)
    reason: str
    judgment_id: int | None = None
    time_on_task_ms: int | None = None
    # The submitted assignment's pair and side order (a submit that wrote the judgment).
    submitted_pair_id: int | None = None
    submitted_left_is_a: bool | None = None
