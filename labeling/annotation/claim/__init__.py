"""Claiming pairs (and, where the database allows, submitting and claiming in one query).

Two implementations keep the same rules and invariants: ``postgres`` (prepared statements, a
claim or a submit + claim in one query; what production runs) and ``orm`` (portable ORM
queries: the SQLite demo). Both answer an :class:`~.outcome.Outcome` and lease with the side
order of :func:`~.side_order.left_is_a_for`. The annotation services reach them only through
:func:`claim_path`, and ask :func:`~.orm.claimable_pair_exists` (a read without locks) before
they answer "done" for a claim that found nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from labeling.database import is_postgresql
from labeling.models import Campaign, Judgment

from .orm import OrmPath, claimable_pair_exists
from .outcome import Outcome
from .postgres import PostgresPath


class ClaimPath(Protocol):
    """The claim operations of the annotation services, for one kind of database."""

    @property
    def one_statement(self) -> bool:
        """Whether ``submit_and_claim`` submits and claims in one query; when False it writes
        nothing, and the services submit through the ORM and then claim."""
        ...

    def claim(
        self, *, campaign: Campaign, annotator: Any, now: datetime, gold_first: bool
    ) -> Outcome:
        """One claim: the live lease of ``annotator`` in ``campaign``, or a newly leased pair
        (or why none: ``daily_cap``, ``budget``, ``done``, or ``race``, when the caller asks
        again)."""
        ...

    def submit_and_claim(
        self,
        *,
        assignment_id: int,
        campaign: Campaign,
        annotator: Any,
        now: datetime,
        gold_first: bool,
        values_if_a_left: dict[str, Any],
        values_if_b_left: dict[str, Any],
        time_on_task_ms: int | None,
    ) -> tuple[Judgment, Outcome] | None:
        """Record the judgment of ``assignment_id`` (its canonical fields for either side
        order) and claim the next pair; None when it wrote nothing (the assignment is not the
        caller's open one in this campaign), and then it claimed nothing either."""
        ...

    def serialise_claims(self, *, campaign: Campaign, annotator: Any) -> None:
        """Inside a transaction: make a claim wait for any other transaction that called this
        for the same annotator and campaign, so that it sees the lease that one took."""
        ...


# The paths hold no state: one instance of each serves every request.
POSTGRES: ClaimPath = PostgresPath()
ORM: ClaimPath = OrmPath()


def claim_path(*, orm: bool = False) -> ClaimPath:
    """The claim path of the default database: ``postgres`` on PostgreSQL, ``orm`` on any
    other. ``orm=True``: the ORM path whatever the database (tests run both on PostgreSQL)."""
    return POSTGRES if is_postgresql() and not orm else ORM


__all__ = ["ORM", "POSTGRES", "ClaimPath", "Outcome", "claim_path", "claimable_pair_exists"]
