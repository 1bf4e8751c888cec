"""Dashboard pre-aggregates: kept current by PostgreSQL in the transaction of each write.

A dashboard at a million judgments cannot scan them within a second, so PostgreSQL keeps sums
that the dashboards read instead (``DashboardRatingCount``, ``DashboardAnnotatorTotal``,
``DashboardAnnotatorHour``, ``DashboardTimeOnTask``, ``DashboardTimeOnTaskSecond``): a few
thousand rows per campaign whatever its size.

Triggers keep them, not the services, because judgments are written by several paths (the
claim's prepared statements, the ORM path, edits, cascading deletes, bulk loads) and every one
of them must move the sums in its own transaction. Each judgment statement runs one trigger
per statement that reads the statement's rows (transition tables), groups their changes and
adds them with ``INSERT … ON CONFLICT DO UPDATE`` in key order, so two writers never wait on
each other in opposite orders. Other writes that move figures have row triggers: a pair's gold
answer (rescores its judgments), a prompt's category or intent (moves its ratings), a deleted
campaign (drops its rows). Candidates' style, model and source are written once, never
updated, so they have none.

Agreement with peers counts ordered couples of judgments of one pair by two annotators. A
trigger first locks the pairs its judgments belong to, so of two annotators judging the same
pair at once the second waits for the first to commit and then sees its judgment: every couple
is counted exactly once. The same lock orders a judgment against a change of its pair's gold
answer or its prompt's category.

The sums give the figures of ``labeling/quality/dashboards.py`` exactly; a test compares them
with a scan of the judgments on the same data. SQLite (the embedded demo) has none of this:
there the dashboards scan the judgments.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd
from django.contrib.auth import get_user_model
from django.db import connection

from labeling.models import (
    Campaign,
    DashboardAnnotatorHour,
    DashboardAnnotatorTotal,
    DashboardRatingCount,
    DashboardTimeOnTask,
    DashboardTimeOnTaskSecond,
)
from policy.rubric import SEVERITY_LEVELS

RATING_TABLE = DashboardRatingCount._meta.db_table
TOTAL_TABLE = DashboardAnnotatorTotal._meta.db_table
HOUR_TABLE = DashboardAnnotatorHour._meta.db_table
TIME_TABLE = DashboardTimeOnTask._meta.db_table
SECOND_TABLE = DashboardTimeOnTaskSecond._meta.db_table
AGGREGATE_TABLES = (RATING_TABLE, TOTAL_TABLE, HOUR_TABLE, TIME_TABLE, SECOND_TABLE)

# Time on task is bucketed by whole seconds to find the middle judgment quickly.
MS_PER_SECOND = 1000

_SEVERITY_ARRAY = "ARRAY[" + ", ".join(f"'{level}'" for level in SEVERITY_LEVELS) + "]::text[]"
_TOTAL_COLUMNS = (
    "judgments",
    "time_on_task_total_ms",
    "time_on_task_judgments",
    "left_wins",
    "decided",
    "gold_judgments",
    "gold_passed",
    "peer_couples",
    "peer_same_direction",
    "peer_same_severity",
)


def _severity_distance(side: str, judgment: str, answer: str) -> str:
    return (
        f"abs(array_position({_SEVERITY_ARRAY}, {judgment}.{side}_severity::text)"
        f" - array_position({_SEVERITY_ARRAY}, {answer}->'{side}'->>'severity'))"
    )


def gold_passes_sql(judgment: str, answer: str) -> str:
    """SQL that is true when ``judgment`` passes the gold ``answer`` (jsonb): the rule of
    ``labeling.quality.gold.gold_score``, both sides within the tolerances and the direction
    of the preference as expected. NULL (not passed) when the answer is malformed."""
    severity_tolerance = f"COALESCE(({answer}->>'severity_tolerance')::int, 0)"
    helpfulness_tolerance = f"COALESCE(({answer}->>'helpfulness_tolerance')::int, 0)"
    checks = []
    for side in ("a", "b"):
        checks.append(f"{_severity_distance(side, judgment, answer)} <= {severity_tolerance}")
        checks.append(
            f"abs({judgment}.{side}_helpfulness - ({answer}->'{side}'->>'helpfulness')::int)"
            f" <= {helpfulness_tolerance}"
        )
    checks.append(f"sign({judgment}.preference) = ({answer}->>'preference')::int")
    return "(" + " AND ".join(checks) + ")"


def _upsert(table: str, keys: tuple[str, ...], values: tuple[str, ...], select: str) -> str:
    """INSERT the grouped deltas of ``select`` in key order, adding to the rows that exist."""
    columns = ", ".join((*keys, *values))
    updates = ", ".join(f"{value} = t.{value} + EXCLUDED.{value}" for value in values)
    return (
        f"INSERT INTO {table} AS t ({columns})\n{select}\n"
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def apply_statements(changes: str) -> list[str]:
    """The statements that add ``changes`` to the pre-aggregates.

    ``changes`` is SQL yielding judgment rows with a ``sign`` column: +1 for a row that now
    counts (inserted, or the new version of an updated row), −1 for one that no longer does.
    """
    ratings = _upsert(
        RATING_TABLE,
        (
            "campaign_id",
            "category_path",
            "intent",
            "style",
            "model",
            "response_mode",
            "severity",
            "helpfulness",
        ),
        ("ratings",),
        f"""
WITH changes AS ({changes})
SELECT pq.campaign_id, q.category_path, q.intent, k.style,
       COALESCE(NULLIF(k.model, ''), k.source), s.mode, s.severity, s.helpfulness, SUM(c.sign)
FROM changes c
JOIN labeling_pair p ON p.id = c.pair_id
JOIN labeling_prompt pq ON pq.id = p.prompt_id
CROSS JOIN LATERAL (VALUES
    (p.candidate_a_id, c.a_response_mode, c.a_severity, c.a_helpfulness),
    (p.candidate_b_id, c.b_response_mode, c.b_severity, c.b_helpfulness)
) s (candidate_id, mode, severity, helpfulness)
JOIN labeling_candidate k ON k.id = s.candidate_id
JOIN labeling_prompt q ON q.id = k.prompt_id
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
HAVING SUM(c.sign) <> 0
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8""",
    )
    zero_peers = "0, 0, 0"
    zero_own = "0, 0, 0, 0, 0, 0, 0"
    sums = ", ".join(f"SUM({column})" for column in _TOTAL_COLUMNS)
    totals = _upsert(
        TOTAL_TABLE,
        ("campaign_id", "annotator_id"),
        _TOTAL_COLUMNS,
        f"""
WITH changes AS ({changes}),
changed AS (
    SELECT c.*, pq.campaign_id, (p.is_gold AND p.gold_answer IS NOT NULL) AS gold, p.gold_answer
    FROM changes c
    JOIN labeling_pair p ON p.id = c.pair_id
    JOIN labeling_prompt pq ON pq.id = p.prompt_id
),
deltas ({", ".join(("campaign_id", "annotator_id", *_TOTAL_COLUMNS))}) AS (
    SELECT x.campaign_id, x.annotator_id, x.sign,
           x.sign * COALESCE(x.time_on_task_ms, 0)::bigint,
           x.sign * (x.time_on_task_ms IS NOT NULL)::int,
           x.sign * ((x.left_is_a AND x.preference < 0)
                     OR (NOT x.left_is_a AND x.preference > 0))::int,
           x.sign * (x.preference <> 0)::int,
           x.sign * x.gold::int,
           x.sign * COALESCE(x.gold AND {gold_passes_sql("x", "x.gold_answer")}, false)::int,
           {zero_peers}
    FROM changed x
    UNION ALL
    -- a changed judgment and an unchanged one of the same pair: both ordered couples, one
    -- for each annotator
    SELECT x.campaign_id, who.annotator_id, {zero_own}, x.sign,
           x.sign * (sign(x.preference) = sign(u.preference))::int,
           x.sign * (x.a_severity = u.a_severity AND x.b_severity = u.b_severity)::int
    FROM changed x
    JOIN labeling_judgment u ON u.pair_id = x.pair_id AND u.annotator_id <> x.annotator_id
    CROSS JOIN LATERAL (VALUES (x.annotator_id), (u.annotator_id)) who (annotator_id)
    WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.id = u.id)
    UNION ALL
    -- two changed judgments of the same pair (both removed or both added): each ordered
    -- couple once, for its first annotator
    SELECT x.campaign_id, x.annotator_id, {zero_own}, x.sign,
           x.sign * (sign(x.preference) = sign(y.preference))::int,
           x.sign * (x.a_severity = y.a_severity AND x.b_severity = y.b_severity)::int
    FROM changed x
    JOIN changed y ON y.pair_id = x.pair_id AND y.annotator_id <> x.annotator_id
        AND y.sign = x.sign
)
SELECT campaign_id, annotator_id, {sums}
FROM deltas
GROUP BY 1, 2
HAVING bool_or(judgments <> 0 OR peer_couples <> 0 OR gold_judgments <> 0)
ORDER BY 1, 2""",
    )

    def per_annotator(table: str, key: str, expression: str, where: str) -> str:
        return _upsert(
            table,
            ("campaign_id", "annotator_id", key),
            ("judgments",),
            f"""
WITH changes AS ({changes})
SELECT pq.campaign_id, c.annotator_id, {expression}, SUM(c.sign)
FROM changes c
JOIN labeling_pair p ON p.id = c.pair_id
JOIN labeling_prompt pq ON pq.id = p.prompt_id
WHERE {where}
GROUP BY 1, 2, 3
HAVING SUM(c.sign) <> 0
ORDER BY 1, 2, 3""",
        )

    return [
        ratings,
        totals,
        # Hours of UTC; for a site whose time zone is a whole number of hours from UTC the
        # count of distinct hours is the same in its own time.
        per_annotator(HOUR_TABLE, "hour", "date_trunc('hour', c.created_at, 'UTC')", "true"),
        per_annotator(
            TIME_TABLE, "time_on_task_ms", "c.time_on_task_ms", "c.time_on_task_ms IS NOT NULL"
        ),
        per_annotator(
            SECOND_TABLE,
            "second",
            f"c.time_on_task_ms / {MS_PER_SECOND}",
            "c.time_on_task_ms IS NOT NULL",
        ),
    ]


_JUDGMENT_COLUMNS = (
    "id, pair_id, annotator_id, a_response_mode, a_severity, a_helpfulness, b_response_mode,"
    " b_severity, b_helpfulness, preference, left_is_a, time_on_task_ms, created_at"
)
_LOCK_PAIRS = (
    "PERFORM 1 FROM labeling_pair WHERE id IN (SELECT pair_id FROM {rows})"
    " ORDER BY id FOR NO KEY UPDATE"
)
_CHANGES = {
    "insert": f"SELECT 1 AS sign, {_JUDGMENT_COLUMNS} FROM new_rows",
    "delete": f"SELECT -1 AS sign, {_JUDGMENT_COLUMNS} FROM old_rows",
    "update": (
        f"SELECT -1 AS sign, {_JUDGMENT_COLUMNS} FROM old_rows"
        f" UNION ALL SELECT 1 AS sign, {_JUDGMENT_COLUMNS} FROM new_rows"
    ),
}
_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def _function(name: str, body: list[str]) -> str:
    statements = "\n".join(f"    {statement.strip()};" for statement in body)
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
        f"BEGIN\n{statements}\n    RETURN NULL;\nEND\n$body$"
    )


def _rating_move_sql() -> str:
    """Move a prompt's ratings from its old category and intent to the new ones."""
    return _upsert(
        RATING_TABLE,
        (
            "campaign_id",
            "category_path",
            "intent",
            "style",
            "model",
            "response_mode",
            "severity",
            "helpfulness",
        ),
        ("ratings",),
        """
WITH sides AS (
    SELECT pq.campaign_id, k.style, COALESCE(NULLIF(k.model, ''), k.source) AS model,
           j.a_response_mode AS mode, j.a_severity AS severity, j.a_helpfulness AS helpfulness
    FROM labeling_candidate k
    JOIN labeling_pair p ON p.candidate_a_id = k.id
    JOIN labeling_prompt pq ON pq.id = p.prompt_id
    JOIN labeling_judgment j ON j.pair_id = p.id
    WHERE k.prompt_id = NEW.id
    UNION ALL
    SELECT pq.campaign_id, k.style, COALESCE(NULLIF(k.model, ''), k.source),
           j.b_response_mode, j.b_severity, j.b_helpfulness
    FROM labeling_candidate k
    JOIN labeling_pair p ON p.candidate_b_id = k.id
    JOIN labeling_prompt pq ON pq.id = p.prompt_id
    JOIN labeling_judgment j ON j.pair_id = p.id
    WHERE k.prompt_id = NEW.id
)
SELECT s.campaign_id, moved.category_path, moved.intent, s.style, s.model, s.mode,
       s.severity, s.helpfulness, SUM(moved.sign)
FROM sides s
CROSS JOIN (VALUES (OLD.category_path, OLD.intent, -1), (NEW.category_path, NEW.intent, 1))
    moved (category_path, intent, sign)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
HAVING SUM(moved.sign) <> 0
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8""",
    )


def _gold_rescore_sql() -> str:
    """Score a pair's judgments again after its gold answer changed (old score out, new in)."""
    old_passes = gold_passes_sql("j", "OLD.gold_answer")
    new_passes = gold_passes_sql("j", "NEW.gold_answer")
    old_gold = "(OLD.is_gold AND OLD.gold_answer IS NOT NULL)"
    new_gold = "(NEW.is_gold AND NEW.gold_answer IS NOT NULL)"
    return _upsert(
        TOTAL_TABLE,
        ("campaign_id", "annotator_id"),
        ("gold_judgments", "gold_passed"),
        f"""
SELECT pq.campaign_id, j.annotator_id,
       SUM({new_gold}::int - {old_gold}::int),
       SUM(COALESCE({new_gold} AND {new_passes}, false)::int
           - COALESCE({old_gold} AND {old_passes}, false)::int)
FROM labeling_judgment j
JOIN labeling_prompt pq ON pq.id = NEW.prompt_id
WHERE j.pair_id = NEW.id
GROUP BY 1, 2
ORDER BY 1, 2""",
    )


def install_statements() -> list[str]:
    """Functions and triggers that keep the pre-aggregates current (PostgreSQL only)."""
    statements = []
    for event in ("insert", "update", "delete"):
        name = f"labeling_dashboard_judgment_{event}"
        rows = "new_rows" if event != "delete" else "old_rows"
        statements.append(
            _function(name, [_LOCK_PAIRS.format(rows=rows), *apply_statements(_CHANGES[event])])
        )
        statements.append(
            f"CREATE TRIGGER {name} AFTER {event.upper()} ON labeling_judgment"
            f" {_REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    statements.append(
        _function(
            "labeling_dashboard_prompt_update",
            [
                "PERFORM 1 FROM labeling_pair p JOIN labeling_candidate k"
                " ON k.id IN (p.candidate_a_id, p.candidate_b_id)"
                " WHERE k.prompt_id = NEW.id ORDER BY p.id FOR NO KEY UPDATE OF p",
                _rating_move_sql(),
            ],
        )
    )
    statements.append(
        "CREATE TRIGGER labeling_dashboard_prompt_update AFTER UPDATE OF category_path, intent"
        " ON labeling_prompt FOR EACH ROW WHEN (OLD.category_path IS DISTINCT FROM"
        " NEW.category_path OR OLD.intent IS DISTINCT FROM NEW.intent)"
        " EXECUTE FUNCTION labeling_dashboard_prompt_update()"
    )
    statements.append(_function("labeling_dashboard_pair_gold_update", [_gold_rescore_sql()]))
    statements.append(
        "CREATE TRIGGER labeling_dashboard_pair_gold_update AFTER UPDATE OF is_gold, gold_answer"
        " ON labeling_pair FOR EACH ROW WHEN (OLD.is_gold IS DISTINCT FROM NEW.is_gold OR"
        " OLD.gold_answer IS DISTINCT FROM NEW.gold_answer)"
        " EXECUTE FUNCTION labeling_dashboard_pair_gold_update()"
    )
    statements.append(
        _function(
            "labeling_dashboard_campaign_delete",
            [f"DELETE FROM {table} WHERE campaign_id = OLD.id" for table in AGGREGATE_TABLES],
        )
    )
    statements.append(
        "CREATE TRIGGER labeling_dashboard_campaign_delete AFTER DELETE ON labeling_campaign"
        " FOR EACH ROW EXECUTE FUNCTION labeling_dashboard_campaign_delete()"
    )
    return statements


def uninstall_statements() -> list[str]:
    """The reverse of ``install_statements``."""
    statements = []
    for name, table in (
        ("labeling_dashboard_judgment_insert", "labeling_judgment"),
        ("labeling_dashboard_judgment_update", "labeling_judgment"),
        ("labeling_dashboard_judgment_delete", "labeling_judgment"),
        ("labeling_dashboard_prompt_update", "labeling_prompt"),
        ("labeling_dashboard_pair_gold_update", "labeling_pair"),
        ("labeling_dashboard_campaign_delete", "labeling_campaign"),
    ):
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(f"DROP FUNCTION IF EXISTS {name}()")
    return statements


def dashboard_aggregates_rebuild() -> None:
    """Compute every pre-aggregate again from the judgments (after installing the triggers,
    or to repair them); one transaction, the caller's."""
    with connection.cursor() as cursor:
        # DELETE, not TRUNCATE: rows written earlier in the same transaction may still have
        # deferred foreign-key checks pending, which TRUNCATE refuses.
        for table in AGGREGATE_TABLES:
            cursor.execute(f"DELETE FROM {table}")
        for statement in apply_statements(
            f"SELECT 1 AS sign, {_JUDGMENT_COLUMNS} FROM labeling_judgment"
        ):
            cursor.execute(statement)


# --- reads ---------------------------------------------------------------------------------


def rating_counts_aggregated(*, campaign: Campaign) -> list[tuple[Any, ...]]:
    """The rating counts of the safety and modes dashboards, from ``DashboardRatingCount``."""
    return list(
        DashboardRatingCount.objects.filter(campaign=campaign, ratings__gt=0)
        .values_list(
            "category_path",
            "intent",
            "style",
            "model",
            "response_mode",
            "severity",
            "helpfulness",
            "ratings",
        )
        .order_by()
    )


def annotator_totals(*, campaign: Campaign) -> pd.DataFrame:
    """Per annotator with judgments: their sums, active hours and username, by annotator id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
SELECT t.annotator_id, u.username, {", ".join(f"t.{c}" for c in _TOTAL_COLUMNS)},
       (SELECT COUNT(*) FROM {HOUR_TABLE} h
        WHERE h.campaign_id = t.campaign_id AND h.annotator_id = t.annotator_id
          AND h.judgments > 0) AS active_hours
FROM {TOTAL_TABLE} t
JOIN {get_user_model()._meta.db_table} u ON u.id = t.annotator_id
WHERE t.campaign_id = %s AND t.judgments > 0
ORDER BY u.username""",
            [campaign.pk],
        )
        rows = cursor.fetchall()
    columns = ["annotator_id", "username", *_TOTAL_COLUMNS, "active_hours"]
    return pd.DataFrame(rows, columns=columns).set_index("annotator_id")


def median_time_on_task_ms(*, campaign: Campaign) -> dict[int, float]:
    """Each annotator's exact median time on task (PostgreSQL's ``percentile_cont(0.5)``).

    The per-second counts say which second holds the middle judgment (or the two middle
    ones); the exact values inside those seconds come from the per-millisecond counts, so
    only a few hundred rows are read per annotator.
    """
    seconds: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for annotator_id, second, judgments in (
        DashboardTimeOnTaskSecond.objects.filter(campaign=campaign, judgments__gt=0)
        .order_by("annotator_id", "second")
        .values_list("annotator_id", "second", "judgments")
    ):
        seconds[annotator_id].append((second, judgments))
    # For each annotator: the positions (0-based) of the two middle judgments, and for each
    # the second it falls in and its position among that second's judgments.
    wanted: dict[int, list[tuple[int, int]]] = {}
    for annotator_id, counts in seconds.items():
        total = sum(judgments for _, judgments in counts)
        middle = []
        for position in ((total - 1) // 2, total // 2):
            before = 0
            for second, judgments in counts:
                if position < before + judgments:
                    middle.append((second, position - before))
                    break
                before += judgments
        wanted[annotator_id] = middle
    if not wanted:
        return {}
    lookups = [
        (annotator_id, second) for annotator_id, middle in wanted.items() for second, _ in middle
    ]
    values: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
SELECT f.annotator_id, f.time_on_task_ms / {MS_PER_SECOND}, f.time_on_task_ms, f.judgments
FROM {TIME_TABLE} f
JOIN (SELECT DISTINCT * FROM unnest(%s::int[], %s::bigint[])) w (annotator_id, second)
  ON f.annotator_id = w.annotator_id
 AND f.time_on_task_ms >= w.second * {MS_PER_SECOND}
 AND f.time_on_task_ms < (w.second + 1) * {MS_PER_SECOND}
WHERE f.campaign_id = %s AND f.judgments > 0
ORDER BY 1, 3""",
            [[a for a, _ in lookups], [s for _, s in lookups], campaign.pk],
        )
        for annotator_id, second, time_ms, judgments in cursor.fetchall():
            values[(annotator_id, second)].append((time_ms, judgments))
    medians = {}
    for annotator_id, middle in wanted.items():
        picked = []
        for second, offset in middle:
            before = 0
            for time_ms, judgments in values[(annotator_id, second)]:
                if offset < before + judgments:
                    picked.append(float(time_ms))
                    break
                before += judgments
        low, high = picked
        medians[annotator_id] = low + (high - low) * 0.5
    return medians
