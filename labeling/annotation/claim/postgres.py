"""The annotator's round trip in one query to PostgreSQL: the claim, or the submit + claim.

A claim is one statement, and submit + claim are two statements sent as one query string:
one network round trip and, in autocommit, one transaction (the statements of one query
string commit together), where a transaction of separate statements would pay a round trip
for each. Both are prepared once per connection, so PostgreSQL does not plan them
again on every round trip. The rules are those of the ORM path (``orm``), and the database
enforces the invariants:

* the pair is picked ``FOR NO KEY UPDATE SKIP LOCKED``: two annotators never wait on, or both
  take, one pair's last slot (and foreign-key checks of concurrent submits never wait on it);
* a slot is a row of ``labeling_assignment``: unique (pair, slot) with slots below ``k``, and
  unique (pair, annotator). A statement reads one snapshot, which may be older than the pair
  lock it takes, so what it changes it re-checks under a lock: the new lease is inserted
  with ``ON CONFLICT DO NOTHING``, and a lease to hand over or renew is locked ``FOR UPDATE
  SKIP LOCKED`` and re-checked (still expired, still open). A claim that lost such a race
  answers ``race`` and is asked again with a fresh snapshot;
* the submit locks the assignment row first, and writes only if it is the caller's, in this
  campaign and not yet completed. Anything else writes nothing, the claim after it then does
  nothing either, and the ordinary services answer it exactly as they do on their own
  (idempotent replay, lost lease, wrong campaign). The claim runs after the submit with a
  fresh snapshot that sees the new judgment, while the submit's locks are still held: a
  double click waits, then finds the judgment and the lease;
* no deadlock: the only lock a submit waits for while holding something is its own pair's
  row (for the counter), taken before it writes its assignment row and before the claim
  picks a pair; a claim, once it holds a pair, waits for no row lock, and for an index entry
  only of a draft save or a skip, which wait for no pair.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import psycopg
from django.db import ProgrammingError, connection, transaction

from labeling.models import (
    Assignment,
    Campaign,
    Candidate,
    DashboardAnnotatorTotal,
    Judgment,
    Pair,
    Prompt,
)
from policy import rubric

from .outcome import Outcome

ASSIGNMENT_COLUMNS = (
    "id", "pair_id", "campaign_id", "annotator_id", "slot", "left_is_a", "expires_at",
    "completed_at", "created_at", "draft",
)  # fmt: skip
PAIR_COLUMNS = ("id", "prompt_id", "candidate_a_id", "candidate_b_id", "is_gold", "judgment_count")
PROMPT_COLUMNS = ("id", "campaign_id", "messages", "category_path", "intent")
CANDIDATE_COLUMNS = ("id", "prompt_id", "text", "html", "html_renderer")
# Judgment fields whose canonical value depends on the side order shown.
ORIENTED_FIELDS = rubric.JUDGMENT_RATING_COLUMNS

# The side order of a new lease, computed in the statement (it picks the pair): the SQL of
# ``side_order.left_is_a_for``, which test_side_order_in_sql_is_the_python_one
# (tests/labeling/annotation/test_round_trip.py) compares it with.
_SIDES_SQL = (
    "(get_byte(sha256(convert_to('graylab-sides:' || %(me)s::text || ':' || {pair}::text, "
    "'UTF8')), 0) & 1) = 1"
)


def _cols(alias: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{column}" for column in columns)


_SUBMIT_SQL = """
WITH sub AS MATERIALIZED (
    SELECT id, pair_id, campaign_id, annotator_id, left_is_a, created_at, completed_at
    FROM labeling_assignment WHERE id = %(sub_id)s
    FOR UPDATE
),
new_judgment AS (
    INSERT INTO labeling_judgment (
        pair_id, annotator_id, assignment_id, policy_version_id, {oriented_columns},
        {note_columns}, left_is_a, time_on_task_ms, created_at, updated_at
    )
    SELECT s.pair_id, %(me)s, s.id, %(policy_version)s, {oriented_values},
        {note_values}, s.left_is_a,
        COALESCE(%(time_on_task_ms)s::integer, GREATEST(0, floor(
            extract(epoch FROM (%(now)s::timestamptz - s.created_at)) * 1000
        ))::integer),
        %(now)s, %(now)s
    FROM sub s
    WHERE s.annotator_id = %(me)s AND s.campaign_id = %(campaign)s AND s.completed_at IS NULL
    RETURNING id, time_on_task_ms
),
counted AS (
    UPDATE labeling_pair p SET judgment_count = p.judgment_count + 1
    FROM sub s
    WHERE p.id = s.pair_id AND EXISTS (SELECT 1 FROM new_judgment)
    RETURNING p.id
),
-- Only once the pair is ours: until then the assignment row is merely locked, and a claim
-- (with an older snapshot) that tries its slot is turned away at once instead of waiting
-- for this transaction, which may be waiting for that claim's pair.
completed AS (
    UPDATE labeling_assignment a SET completed_at = %(now)s, draft = '{{}}'::jsonb
    FROM sub s
    WHERE a.id = s.id AND EXISTS (SELECT 1 FROM counted)
    RETURNING a.id
)
SELECT j.id, j.time_on_task_ms, s.pair_id, s.left_is_a, (SELECT count(*) FROM completed)
FROM (SELECT 1) AS one
LEFT JOIN sub s ON true
LEFT JOIN new_judgment j ON true
"""

# A claim that follows a submit in the same transaction runs only if that submit wrote.
_AFTER_SUBMIT = """
after_submit AS MATERIALIZED (
    SELECT %(after)s::bigint IS NULL OR EXISTS (
        SELECT 1 FROM labeling_assignment d
        WHERE d.id = %(after)s AND d.annotator_id = %(me)s AND d.completed_at = %(now)s
    ) AS wrote
),"""

_LIVE_CTE = """
live AS MATERIALIZED (
    SELECT a.id FROM labeling_assignment a
    WHERE a.annotator_id = %(me)s AND a.campaign_id = %(campaign)s
      AND a.completed_at IS NULL AND a.expires_at > %(now)s {gate}
    ORDER BY a.id
    LIMIT 1
),"""

_CAP_CTE = """
capped AS MATERIALIZED (
    SELECT count(*) >= %(daily_cap)s AS hit
    FROM labeling_judgment j
    JOIN labeling_pair p ON p.id = j.pair_id
    JOIN labeling_prompt pr ON pr.id = p.prompt_id
    WHERE j.annotator_id = %(me)s AND pr.campaign_id = %(campaign)s
      AND j.created_at >= %(day_start)s
),"""

# Under a human budget: whether the campaign's judgments (the per-annotator sums PostgreSQL
# keeps in the judgment's own transaction, labeling/quality/aggregates.py) and live leases
# have reached it. The statement before the claim locks the campaign row (_BUDGET_LOCK_SQL),
# so this count, read with the claim's fresh snapshot, sees every lease an earlier claim took.
_BUDGET_CTE = """
budget AS MATERIALIZED (
    SELECT COALESCE((
        SELECT sum(t.judgments) FROM {totals} t WHERE t.campaign_id = %(campaign)s
    ), 0) + (
        SELECT count(*) FROM labeling_assignment a
        WHERE a.campaign_id = %(campaign)s AND a.completed_at IS NULL AND a.expires_at > %(now)s
    ) >= %(human_budget)s AS hit
),"""

# Claims of a campaign with a human budget take turns: the claim's count above would let two
# concurrent claims both take the last judgment of the budget.
_BUDGET_LOCK_SQL = "SELECT id FROM labeling_campaign WHERE id = %(campaign)s FOR NO KEY UPDATE"

# The campaign's pairs of one kind not accepted as AI labels, highest routing rank first (all
# 0 under uniform routing), then closest to completion, then the oldest: the order of index
# pair_claim_order, which leads with (campaign, is_gold, ai_accepted), so the walk starts at
# this campaign's first candidate and stops at the first free one.
_PICK_CTE = """
{name} AS MATERIALIZED (
    SELECT p.id FROM labeling_pair p
    WHERE p.campaign_id = %(campaign)s AND p.is_gold = %({gold})s AND p.ai_accepted = false
      AND p.judgment_count < %(k)s
      AND NOT EXISTS (
          SELECT 1 FROM labeling_judgment j WHERE j.pair_id = p.id AND j.annotator_id = %(me)s
      )
      AND NOT EXISTS (
          SELECT 1 FROM labeling_skip s WHERE s.pair_id = p.id AND s.annotator_id = %(me)s
      )
      AND (
          SELECT count(*) FROM labeling_assignment a
          WHERE a.pair_id = p.id AND (a.completed_at IS NOT NULL OR a.expires_at > %(now)s)
      ) < %(k)s
      AND NOT EXISTS (SELECT 1 FROM live) {conditions}
    ORDER BY p.route_rank DESC, p.judgment_count DESC, p.id
    LIMIT 1
    FOR NO KEY UPDATE OF p SKIP LOCKED
),"""

_TAKE_SLOT_CTES = """
picked AS MATERIALIZED (
    {picked}
),
slots AS MATERIALIZED (
    SELECT a.id, a.slot, a.annotator_id, a.completed_at, a.expires_at
    FROM labeling_assignment a WHERE a.pair_id = (SELECT id FROM picked)
),
mine AS MATERIALIZED (
    SELECT id FROM slots WHERE annotator_id = %(me)s LIMIT 1
),
free AS MATERIALIZED (
    SELECT n AS slot FROM generate_series(0, %(k)s - 1) AS n
    WHERE EXISTS (SELECT 1 FROM picked) AND NOT EXISTS (SELECT 1 FROM mine)
      AND NOT EXISTS (
          SELECT 1 FROM slots s
          WHERE s.slot = n AND (s.completed_at IS NOT NULL OR s.expires_at > %(now)s)
      )
    ORDER BY n
    LIMIT 1
),
renewable AS MATERIALIZED (
    SELECT a.id FROM labeling_assignment a
    WHERE a.id = (SELECT id FROM mine) AND a.annotator_id = %(me)s AND a.completed_at IS NULL
    FOR UPDATE SKIP LOCKED
),
renewed AS (
    UPDATE labeling_assignment a SET expires_at = %(expires_at)s
    FROM renewable r
    WHERE a.id = r.id
    RETURNING {assignment_a}
),
reusable AS MATERIALIZED (
    SELECT a.id FROM labeling_assignment a
    WHERE a.id = (SELECT s.id FROM slots s JOIN free f ON f.slot = s.slot)
      AND a.completed_at IS NULL AND a.expires_at <= %(now)s
    FOR UPDATE SKIP LOCKED
),
handed_over AS (
    UPDATE labeling_assignment a
    SET annotator_id = %(me)s, left_is_a = {sides_handed_over}, expires_at = %(expires_at)s,
        created_at = %(now)s, draft = '{{}}'::jsonb
    FROM reusable r
    WHERE a.id = r.id
    RETURNING {assignment_a}
),
inserted AS (
    INSERT INTO labeling_assignment (
        pair_id, campaign_id, annotator_id, slot, left_is_a, expires_at, completed_at,
        created_at, draft
    )
    SELECT p.id, %(campaign)s, %(me)s, f.slot, {sides_inserted}, %(expires_at)s, NULL,
        %(now)s, '{{}}'::jsonb
    FROM picked p, free f
    WHERE NOT EXISTS (SELECT 1 FROM slots s WHERE s.slot = f.slot)
    ON CONFLICT DO NOTHING
    RETURNING {assignment_bare}
),
claimed AS (
    SELECT * FROM renewed
    UNION ALL SELECT * FROM handed_over
    UNION ALL SELECT * FROM inserted
    UNION ALL SELECT {assignment_a} FROM labeling_assignment a
        WHERE a.id = (SELECT id FROM live)
)
SELECT {assignment_c}, {pair_p}, {prompt_pr}, {candidate_ca}, {candidate_cb},
    (SELECT id FROM picked) AS picked_id, {capped} AS capped, {budget} AS budget_hit
FROM (SELECT 1) AS one
LEFT JOIN claimed c ON true
LEFT JOIN labeling_pair p ON p.id = c.pair_id
LEFT JOIN labeling_prompt pr ON pr.id = p.prompt_id
LEFT JOIN labeling_candidate ca ON ca.id = p.candidate_a_id
LEFT JOIN labeling_candidate cb ON cb.id = p.candidate_b_id
"""


@lru_cache(maxsize=1)
def submit_statement() -> str:
    """The SQL text of the submit: record the judgment of one assignment, or nothing."""
    return _SUBMIT_SQL.format(
        oriented_columns=", ".join(ORIENTED_FIELDS),
        oriented_values=", ".join(
            f"CASE WHEN s.left_is_a THEN %(a_is_left_{name})s ELSE %(b_is_left_{name})s END"
            for name in ORIENTED_FIELDS
        ),
        note_columns=", ".join(rubric.PAIR_NOTE_FIELDS),
        # The flags arrive as JSON text (see ``submit_and_claim``).
        note_values=", ".join(
            f"%({name})s::jsonb" if name == rubric.FLAGS_FIELD else f"%({name})s"
            for name in rubric.PAIR_NOTE_FIELDS
        ),
    )


@lru_cache(maxsize=16)
def statement(*, daily_cap: bool, kinds: int, budget: bool = False) -> str:
    """The SQL text of a claim, for one shape of campaign (a handful, built once each)."""
    gate = "AND (SELECT wrote FROM after_submit)"
    parts = ["WITH", _AFTER_SUBMIT, _LIVE_CTE.format(gate=gate)]
    pick_conditions = [gate]
    if daily_cap:
        parts.append(_CAP_CTE)
        pick_conditions.append("AND NOT (SELECT hit FROM capped)")
    if budget:
        parts.append(_BUDGET_CTE.format(totals=DashboardAnnotatorTotal._meta.db_table))
        pick_conditions.append("AND NOT (SELECT hit FROM budget)")
    conditions = " ".join(pick_conditions)
    parts.append(_PICK_CTE.format(name="pick1", gold="gold1", conditions=conditions))
    picked = "SELECT id FROM pick1"
    if kinds == 2:
        parts.append(
            _PICK_CTE.format(
                name="pick2",
                gold="gold2",
                # Fixed fragments of this module only; every value is a bound parameter.
                conditions=conditions + " AND NOT EXISTS (SELECT 1 FROM pick1)",  # noqa: S608
            )
        )
        picked += " UNION ALL SELECT id FROM pick2"
    parts.append(
        _TAKE_SLOT_CTES.format(
            picked=picked,
            assignment_a=_cols("a", ASSIGNMENT_COLUMNS),
            assignment_bare=", ".join(ASSIGNMENT_COLUMNS),
            assignment_c=_cols("c", ASSIGNMENT_COLUMNS),
            pair_p=_cols("p", PAIR_COLUMNS),
            prompt_pr=_cols("pr", PROMPT_COLUMNS),
            candidate_ca=_cols("ca", CANDIDATE_COLUMNS),
            candidate_cb=_cols("cb", CANDIDATE_COLUMNS),
            sides_handed_over=_SIDES_SQL.format(pair="(SELECT id FROM picked)"),
            sides_inserted=_SIDES_SQL.format(pair="p.id"),
            capped="(SELECT hit FROM capped)" if daily_cap else "false",
            budget="(SELECT hit FROM budget)" if budget else "false",
        )
    )
    return "\n".join(parts)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _instance(model: Any, columns: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    return model.from_db(connection.alias, columns, values)


def _outcome(
    row: tuple[Any, ...],
    *,
    campaign: Campaign,
    annotator: Any,
    submitted: tuple[Any, ...] = (None, None, None, None),
) -> Outcome:
    index = 0

    def take(count: int) -> tuple[Any, ...]:
        nonlocal index
        values = tuple(row[index : index + count])
        index += count
        return values

    assignment_values = take(len(ASSIGNMENT_COLUMNS))
    pair_values = take(len(PAIR_COLUMNS))
    prompt_values = take(len(PROMPT_COLUMNS))
    a_values = take(len(CANDIDATE_COLUMNS))
    b_values = take(len(CANDIDATE_COLUMNS))
    picked_id, capped, budget_hit = take(3)
    if assignment_values[0] is None:
        if capped:
            reason = "daily_cap"
        elif budget_hit:
            reason = "budget"
        elif picked_id is None:
            reason = "done"
        else:
            reason = "race"
        return Outcome(None, reason, *submitted)
    *head, draft = assignment_values
    assignment: Assignment = _instance(Assignment, ASSIGNMENT_COLUMNS, (*head, _json(draft)))
    pair: Pair = _instance(Pair, PAIR_COLUMNS, pair_values)
    prompt_id, campaign_id, messages, *rest = prompt_values
    prompt: Prompt = _instance(
        Prompt, PROMPT_COLUMNS, (prompt_id, campaign_id, _json(messages), *rest)
    )
    prompt.campaign = campaign
    pair.prompt = prompt
    pair.candidate_a = _instance(Candidate, CANDIDATE_COLUMNS, a_values)
    pair.candidate_b = _instance(Candidate, CANDIDATE_COLUMNS, b_values)
    assignment.pair = pair
    assignment.campaign = campaign
    assignment.annotator = annotator
    return Outcome(assignment, "ok", *submitted)


def _parameters(
    *, campaign: Campaign, annotator: Any, now: datetime, gold_first: bool
) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "me": annotator.pk,
        "campaign": campaign.pk,
        "k": campaign.judgments_per_pair,
        "now": now,
        "expires_at": now + timedelta(minutes=campaign.lease_minutes),
        "gold1": gold_first,
        "gold2": not gold_first,
        "after": None,
    }
    if campaign.daily_cap is not None:
        parameters["daily_cap"] = campaign.daily_cap
        parameters["day_start"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if campaign.human_budget is not None:
        parameters["human_budget"] = campaign.human_budget
    return parameters


# The type of every parameter, for PREPARE (PostgreSQL cannot infer all of them).
PARAMETER_TYPES = {
    "me": "integer", "campaign": "bigint", "k": "integer", "now": "timestamptz",
    "expires_at": "timestamptz", "gold1": "boolean", "gold2": "boolean",
    "daily_cap": "integer", "day_start": "timestamptz", "human_budget": "integer",
    "sub_id": "bigint", "after": "bigint",
    "policy_version": "bigint", **{name: "text" for name in rubric.PAIR_NOTE_FIELDS},
    "time_on_task_ms": "integer", "user": "integer", "slug": "text",
    **{f"{order}_is_left_{name}": "integer"
       if name.endswith((rubric.HELPFULNESS_FIELD, rubric.PREFERENCE_FIELD))
       else "text" for order in ("a", "b") for name in ORIENTED_FIELDS},
}  # fmt: skip
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Prepared:
    """One shape of the statement as a server-side prepared statement."""

    name: str
    prepare: str  # PREPARE name (types) AS … ($1, $2, …)
    execute: str  # EXECUTE name (%(…)s, …), bound like any Django query


@lru_cache(maxsize=16)
def prepared(sql: str) -> Prepared:
    """``sql`` as a statement prepared once per database connection: PostgreSQL then plans it
    once (a generic plan) instead of on every round trip."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = _PLACEHOLDER.sub(number, sql)
    name = "graylab_round_trip_" + hashlib.sha256(body.encode()).hexdigest()[:16]
    types = ", ".join(PARAMETER_TYPES[parameter] for parameter in names)
    arguments = ", ".join(f"%({parameter})s" for parameter in names)
    # A literal % would be read as a placeholder when the PREPARE is sent through a cursor.
    return Prepared(
        name=name,
        prepare=f"PREPARE {name} ({types}) AS {body}".replace("%", "%%"),
        execute=f"EXECUTE {name} ({arguments})",
    )


def claim_shapes(campaign: Campaign) -> tuple[Prepared, ...]:
    """The statements of one claim: under a human budget the campaign lock, then the claim."""
    budget = campaign.human_budget is not None
    claim = prepared(
        statement(daily_cap=campaign.daily_cap is not None, kinds=_kinds(campaign), budget=budget)
    )
    return (prepared(_BUDGET_LOCK_SQL), claim) if budget else (claim,)


# The statements prepared on each open connection (prepared statements live as long as the
# database session, whatever happens to transactions).
_prepared_on: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _run(shapes: tuple[Prepared, ...], parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run ``shapes`` in one round trip and one transaction; each answers one row."""
    for _attempt in range(2):
        connection.ensure_connection()
        names = _prepared_on.setdefault(connection.connection, set())
        try:
            if connection.in_atomic_block:
                # Inside someone's transaction: a savepoint, so a failure leaves theirs usable.
                with transaction.atomic():
                    return _execute(shapes, parameters, names)
            # Otherwise autocommit: the statements of one query string are one transaction,
            # without BEGIN/COMMIT round trips.
            return _execute(shapes, parameters, names)
        except ProgrammingError as error:
            if not isinstance(error.__cause__, psycopg.errors.InvalidSqlStatementName):
                raise
            # The session lost them (a pooler, DISCARD ALL): prepare them again.
            names.difference_update(shape.name for shape in shapes)
    raise RuntimeError("the round-trip statements could not be prepared")


def _execute(
    shapes: tuple[Prepared, ...], parameters: dict[str, Any], names: set[str]
) -> list[tuple[Any, ...]]:
    # The first use on this connection prepares in the same query. A PREPARE is not undone
    # by a rollback, so it counts as done even if what follows fails.
    prepares = [shape.prepare for shape in shapes if shape.name not in names]
    names.update(shape.name for shape in shapes)
    rows = []
    with connection.cursor() as cursor:
        # Several statements in one query string: one round trip, and (in autocommit) one
        # transaction, each statement with a fresh snapshot that sees the ones before it.
        cursor.execute("; ".join([*prepares, *(shape.execute for shape in shapes)]), parameters)
        for _prepare in prepares:
            cursor.nextset()
        for index in range(len(shapes)):
            if index:
                cursor.nextset()
            row = cursor.fetchone()
            assert row is not None  # each statement answers one row
            rows.append(tuple(row))
    return rows


def run_prepared(sql: str, parameters: dict[str, Any]) -> tuple[Any, ...]:
    """The one row of ``sql`` (named placeholders typed in ``PARAMETER_TYPES``), run as a
    statement prepared once per connection."""
    (row,) = _run((prepared(sql),), parameters)
    return row


def serialise_claims(*, campaign: Campaign, annotator: Any) -> None:
    """Inside a transaction: wait for any other transaction that called this for the same
    annotator and campaign to end (a transaction-level advisory lock). The statements that
    follow then see the lease it took."""
    digest = hashlib.sha256(f"graylab-claim:{campaign.pk}:{annotator.pk}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def claim(*, campaign: Campaign, annotator: Any, now: datetime, gold_first: bool) -> Outcome:
    """One claim: the live lease of ``annotator`` in ``campaign``, or a newly leased pair."""
    parameters = _parameters(campaign=campaign, annotator=annotator, now=now, gold_first=gold_first)
    row = _run(claim_shapes(campaign), parameters)[-1]
    return _outcome(row, campaign=campaign, annotator=annotator)


def submit_and_claim(
    *,
    assignment_id: int,
    campaign: Campaign,
    annotator: Any,
    now: datetime,
    gold_first: bool,
    values_if_a_left: dict[str, Any],
    values_if_b_left: dict[str, Any],
    time_on_task_ms: int | None,
) -> Outcome:
    """Record the judgment of ``assignment_id`` and claim the next pair: two statements in one
    round trip and one transaction (the claim sees the judgment, with a fresh snapshot).

    ``values_if_a_left`` / ``values_if_b_left`` are the judgment's canonical fields for either
    side order (the statement reads the order from the locked assignment). ``judgment_id`` of
    the outcome is None when nothing was written: the assignment is not the caller's open one
    in this campaign (the ordinary service then says why), and then nothing is claimed.
    """
    parameters = _parameters(campaign=campaign, annotator=annotator, now=now, gold_first=gold_first)
    parameters.update(
        {
            "after": assignment_id,
            "sub_id": assignment_id,
            "policy_version": campaign.policy_version_id,
            **{name: values_if_a_left[name] for name in rubric.PAIR_NOTE_FIELDS},
            rubric.FLAGS_FIELD: json.dumps(values_if_a_left[rubric.FLAGS_FIELD]),
            "time_on_task_ms": time_on_task_ms,
        }
    )
    for name in ORIENTED_FIELDS:
        parameters[f"a_is_left_{name}"] = values_if_a_left[name]
        parameters[f"b_is_left_{name}"] = values_if_b_left[name]
    submitted, *_lock, row = _run(
        (prepared(submit_statement()), *claim_shapes(campaign)), parameters
    )
    judgment_id, time_on_task_ms, pair_id, left_is_a, _completed = submitted
    return _outcome(
        row,
        campaign=campaign,
        annotator=annotator,
        submitted=(judgment_id, time_on_task_ms, pair_id, left_is_a),
    )


def _kinds(campaign: Campaign) -> int:
    # Without gold in the mix only ordinary pairs are served; with it, the drawn kind first.
    return 2 if campaign.gold_rate > 0 else 1


def judgment_from(
    outcome: Outcome,
    *,
    assignment_id: int,
    annotator: Any,
    campaign: Campaign,
    values: dict[str, Any],
    now: datetime,
) -> Judgment:
    """The Judgment the statement wrote, as a model instance (no query). ``values``: its
    canonical fields for the side order the statement reports."""
    assert outcome.judgment_id is not None and outcome.submitted_pair_id is not None
    judgment = Judgment(
        id=outcome.judgment_id,
        pair_id=outcome.submitted_pair_id,
        annotator=annotator,
        assignment_id=assignment_id,
        policy_version_id=campaign.policy_version_id,
        time_on_task_ms=outcome.time_on_task_ms,
        created_at=now,
        updated_at=now,
        **values,
    )
    judgment._state.adding = False
    judgment._state.db = connection.alias
    return judgment


class PostgresPath:
    """The claim path on PostgreSQL (``claim.ClaimPath``): the statements of this module."""

    one_statement = True

    def claim(
        self, *, campaign: Campaign, annotator: Any, now: datetime, gold_first: bool
    ) -> Outcome:
        return claim(campaign=campaign, annotator=annotator, now=now, gold_first=gold_first)

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
        outcome = submit_and_claim(
            assignment_id=assignment_id,
            campaign=campaign,
            annotator=annotator,
            now=now,
            gold_first=gold_first,
            values_if_a_left=values_if_a_left,
            values_if_b_left=values_if_b_left,
            time_on_task_ms=time_on_task_ms,
        )
        if outcome.judgment_id is None or outcome.submitted_left_is_a is None:
            return None
        judgment = judgment_from(
            outcome,
            assignment_id=assignment_id,
            annotator=annotator,
            campaign=campaign,
            values=values_if_a_left if outcome.submitted_left_is_a else values_if_b_left,
            now=now,
        )
        return judgment, outcome

    def serialise_claims(self, *, campaign: Campaign, annotator: Any) -> None:
        serialise_claims(campaign=campaign, annotator=annotator)
