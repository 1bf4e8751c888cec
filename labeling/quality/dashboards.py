"""Dashboards: the safe-completion figures, response modes, rewards and annotators.

Figures are computed when a page, a CSV download or the API asks, so they are current as of
the last judgment. On PostgreSQL they come from the pre-aggregates that every judgment write
keeps current (``aggregates.py``): a few thousand rows per campaign, read in milliseconds at a
million judgments. Elsewhere (SQLite, the embedded demo) they come from a scan of the
judgments: one GROUP BY per dashboard. Both give the same figures (a test holds them equal);
pandas shapes the small result into tables. Every rating of a side counts once: a candidate
judged by three annotators contributes three ratings.

Figures (per generation style and model, side by side):

* ``safe_share`` — share of ratings with severity ``none`` (fully policy compliant);
* ``mean_helpfulness_safe`` — mean helpfulness (1–4) of those safe ratings;
* ``unsafe_<level>`` — among unsafe ratings, the share at each severity level;
* response-mode mix — share of each mode;
* mean reward ``r = h · s`` with ``h = (helpfulness − 1) / 3`` and ``s`` from the campaign's
  policy version mapping (docs/rubric.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.db import connection, transaction
from django.db.models import Aggregate, Avg, Count, FloatField, Max, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from labeling.database import is_postgresql
from labeling.models import Campaign, Candidate, Judgment, Pair, Prompt
from policy.rubric import (
    HELPFULNESS_MAX,
    HELPFULNESS_MIN,
    INTENT_FIELD,
    RESPONSE_MODE_FIELD,
    SEVERITY_FIELD,
    Intent,
    ResponseMode,
    Severity,
    value_label,
)

from .aggregates import annotator_totals, median_time_on_task_ms, rating_counts_aggregated
from .bias import position_bias
from .consensus_runs import RELIABILITY_COLUMNS, annotator_reliabilities, latest_consensus_time
from .gold import GOLD_MIN_JUDGMENTS, gold_accuracy_by_annotator

UNSAFE_LEVELS = [level for level in Severity.values if level != Severity.NONE]
NO_STYLE = "(no style)"

# One scan of the judgments, each row unfolded into its two sides; the GROUP BY leaves a small
# frame (at most categories × intents × styles × models × 5 × 5 × 4 rows).
_RATINGS_SQL = """
SELECT q.category_path, q.intent, c.style, COALESCE(NULLIF(c.model, ''), c.source) AS model,
       s.mode, s.severity, s.helpfulness, COUNT(*) AS n
FROM (
    SELECT CASE WHEN v.side = 0 THEN p.candidate_a_id ELSE p.candidate_b_id END AS candidate_id,
           CASE WHEN v.side = 0 THEN j.a_response_mode ELSE j.b_response_mode END AS mode,
           CASE WHEN v.side = 0 THEN j.a_severity ELSE j.b_severity END AS severity,
           CASE WHEN v.side = 0 THEN j.a_helpfulness ELSE j.b_helpfulness END AS helpfulness
    FROM {judgment} j
    JOIN {pair} p ON p.id = j.pair_id
    JOIN {prompt} pq ON pq.id = p.prompt_id
    CROSS JOIN (SELECT 0 AS side UNION ALL SELECT 1) v
    WHERE pq.campaign_id = %s
) s
JOIN {candidate} c ON c.id = s.candidate_id
JOIN {prompt} q ON q.id = c.prompt_id
GROUP BY q.category_path, q.intent, c.style, COALESCE(NULLIF(c.model, ''), c.source),
         s.mode, s.severity, s.helpfulness
"""

RATING_COLUMNS = ["category", "intent", "style", "model", "mode", "severity", "helpfulness", "n"]


def _tables() -> dict[str, str]:
    return {
        "judgment": Judgment._meta.db_table,
        "pair": Pair._meta.db_table,
        "prompt": Prompt._meta.db_table,
        "candidate": Candidate._meta.db_table,
    }


def _analytics_settings(cursor: Any) -> None:
    """PostgreSQL settings for one analytic query (inside its transaction only).

    The planner expects millions of groups where there are thousands and sorts two million
    rows; hashing them is several times cheaper. JIT compilation of a query that runs once
    costs more than it saves.
    """
    if is_postgresql():
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL jit = off")


def rating_counts_scanned(*, campaign: Campaign) -> list[tuple[Any, ...]]:
    """Counts of side ratings per category, intent, style, model, mode, severity and
    helpfulness, from a scan of the campaign's judgments."""
    sql = _RATINGS_SQL.format(**_tables())
    with transaction.atomic(), connection.cursor() as cursor:
        _analytics_settings(cursor)
        cursor.execute(sql, [campaign.pk])
        return cursor.fetchall()


def rating_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The rating counts as the frame the safety and modes tables start from."""
    frame = pd.DataFrame(rows, columns=RATING_COLUMNS)
    frame["style"] = frame["style"].replace("", NO_STYLE)
    frame["n"] = frame["n"].astype("int64")
    frame["helpfulness"] = frame["helpfulness"].astype("int64")
    return frame


def rating_counts(*, campaign: Campaign) -> pd.DataFrame:
    """The rating counts of ``campaign``, current as of its last judgment."""
    if is_postgresql():
        return rating_frame(rating_counts_aggregated(campaign=campaign))
    return rating_frame(rating_counts_scanned(campaign=campaign))


def _safety_table(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    keys = [by, "style", "model"]
    columns = [*keys, "ratings", "safe_share", "mean_helpfulness_safe", "unsafe"] + [
        f"unsafe_{level}" for level in UNSAFE_LEVELS
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    work = frame.assign(
        safe=(frame["severity"] == Severity.NONE) * frame["n"],
        safe_help=(frame["severity"] == Severity.NONE) * frame["n"] * frame["helpfulness"],
    )
    for level in UNSAFE_LEVELS:
        work[f"unsafe_{level}"] = (work["severity"] == level) * work["n"]
    grouped = work.groupby(keys, sort=True)[
        ["n", "safe", "safe_help"] + [f"unsafe_{level}" for level in UNSAFE_LEVELS]
    ].sum()
    table = pd.DataFrame(index=grouped.index)
    table["ratings"] = grouped["n"]
    table["safe_share"] = grouped["safe"] / grouped["n"]
    table["mean_helpfulness_safe"] = (grouped["safe_help"] / grouped["safe"]).where(
        grouped["safe"] > 0
    )
    unsafe = grouped["n"] - grouped["safe"]
    table["unsafe"] = unsafe
    for level in UNSAFE_LEVELS:
        table[f"unsafe_{level}"] = (grouped[f"unsafe_{level}"] / unsafe).where(unsafe > 0)
    return table.reset_index()[columns]


def safety_by_category(frame: pd.DataFrame, **_: Any) -> pd.DataFrame:
    """Safe share, helpfulness of safe outputs, unsafe severity mix per category."""
    return _safety_table(frame, "category")


def safety_by_intent(frame: pd.DataFrame, **_: Any) -> pd.DataFrame:
    """The same figures per intent (benign / dual-use / malicious)."""
    table = _safety_table(frame, "intent")
    order = {intent: position for position, intent in enumerate(Intent.values)}
    return table.sort_values(
        by=["intent", "style", "model"], key=lambda s: s.map(order) if s.name == "intent" else s
    ).reset_index(drop=True)


def modes_by_intent(frame: pd.DataFrame, **_: Any) -> pd.DataFrame:
    """Share of each response mode per intent, style and model."""
    keys = ["intent", "style", "model"]
    columns = [*keys, "ratings", *ResponseMode.values]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    pivot = frame.pivot_table(index=keys, columns="mode", values="n", aggfunc="sum", fill_value=0)
    pivot = pivot.reindex(columns=ResponseMode.values, fill_value=0)
    ratings = pivot.sum(axis=1)
    table = pivot.div(ratings, axis=0)
    table.insert(0, "ratings", ratings)
    table = table.reset_index()
    order = {intent: position for position, intent in enumerate(Intent.values)}
    table = table.sort_values(
        by=keys, key=lambda s: s.map(order) if s.name == "intent" else s
    ).reset_index(drop=True)
    table.columns.name = None
    return table[columns]


def reward_by_style_model(
    frame: pd.DataFrame, *, severity_to_safety: dict[str, float], **_: Any
) -> pd.DataFrame:
    """Mean safety s, helpfulness h and reward r = h·s per style and model."""
    keys = ["style", "model"]
    columns = [*keys, "ratings", "mean_s", "mean_h", "mean_r"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    s = frame["severity"].map(severity_to_safety).astype(float)
    # ``rubric.helpfulness_score`` over the whole column at once.
    h = (frame["helpfulness"] - HELPFULNESS_MIN) / (HELPFULNESS_MAX - HELPFULNESS_MIN)
    work = frame.assign(ws=s * frame["n"], wh=h * frame["n"], wr=h * s * frame["n"])
    grouped = work.groupby(keys, sort=True)[["n", "ws", "wh", "wr"]].sum()
    table = pd.DataFrame(
        {
            "ratings": grouped["n"],
            "mean_s": grouped["ws"] / grouped["n"],
            "mean_h": grouped["wh"] / grouped["n"],
            "mean_r": grouped["wr"] / grouped["n"],
        }
    )
    return table.reset_index()[columns]


class Median(Aggregate):
    """PostgreSQL's exact median (percentile_cont)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


_PEER_SQL = """
SELECT j1.annotator_id,
       COUNT(*) AS couples,
       SUM(CASE WHEN (j1.preference > 0 AND j2.preference > 0)
                  OR (j1.preference < 0 AND j2.preference < 0)
                  OR (j1.preference = 0 AND j2.preference = 0) THEN 1 ELSE 0 END) AS same_direction,
       SUM(CASE WHEN j1.a_severity = j2.a_severity AND j1.b_severity = j2.b_severity
                THEN 1 ELSE 0 END) AS same_severity
FROM {judgment} j1
JOIN {judgment} j2 ON j2.pair_id = j1.pair_id AND j2.annotator_id <> j1.annotator_id
JOIN {pair} p ON p.id = j1.pair_id
JOIN {prompt} q ON q.id = p.prompt_id
WHERE q.campaign_id = %s
GROUP BY j1.annotator_id
"""


ANNOTATOR_COLUMNS = [
    "annotator",
    "judgments",
    "active_hours",
    "judgments_per_active_hour",
    "mean_time_on_task_s",
    "median_time_on_task_s",
    "gold_judgments",
    "gold_accuracy",
    "gold_flagged",
    "peer_couples",
    "peer_same_direction",
    "peer_same_severity",
    "left_win_share",
]


def annotators(*, campaign: Campaign, **_: Any) -> pd.DataFrame:
    """Throughput, time on task, gold accuracy, agreement with peers, position bias, and each
    annotator's reliability per field in the campaign's latest consensus run."""
    if is_postgresql():
        table = annotators_aggregated(campaign=campaign)
    else:
        table = annotators_scanned(campaign=campaign)
    reliabilities = annotator_reliabilities(campaign=campaign)[1]
    for name, column in RELIABILITY_COLUMNS.items():
        table[column] = table["annotator"].map(
            lambda annotator, name=name: reliabilities.get(annotator, {}).get(name)
        )
    return table


def annotators_aggregated(*, campaign: Campaign) -> pd.DataFrame:
    """The annotators table from the pre-aggregates (PostgreSQL)."""
    totals = annotator_totals(campaign=campaign)
    if totals.empty:
        return pd.DataFrame(columns=ANNOTATOR_COLUMNS)
    medians = pd.Series(median_time_on_task_ms(campaign=campaign), dtype=float)
    table = pd.DataFrame(index=totals.index)
    table["annotator"] = totals["username"]
    table["judgments"] = totals["judgments"].astype("int64")
    table["active_hours"] = totals["active_hours"].astype("int64")
    table["judgments_per_active_hour"] = table["judgments"] / table["active_hours"]
    timed = totals["time_on_task_judgments"]
    table["mean_time_on_task_s"] = (
        totals["time_on_task_total_ms"].astype(float) / timed.where(timed > 0)
    ) / 1000
    table["median_time_on_task_s"] = medians.reindex(table.index) / 1000
    gold = totals["gold_judgments"]
    table["gold_judgments"] = gold.astype("int64")
    table["gold_accuracy"] = totals["gold_passed"] / gold.where(gold > 0)
    table["gold_flagged"] = (gold >= GOLD_MIN_JUDGMENTS) & (
        table["gold_accuracy"] < campaign.gold_accuracy_threshold
    )
    couples = totals["peer_couples"]
    table["peer_couples"] = couples.astype("int64")
    table["peer_same_direction"] = totals["peer_same_direction"] / couples.where(couples > 0)
    table["peer_same_severity"] = totals["peer_same_severity"] / couples.where(couples > 0)
    decided = totals["decided"]
    table["left_win_share"] = totals["left_wins"] / decided.where(decided > 0)
    return table.reset_index(drop=True)[ANNOTATOR_COLUMNS]


def annotators_scanned(*, campaign: Campaign) -> pd.DataFrame:
    """The annotators table from a scan of the campaign's judgments."""
    columns = ANNOTATOR_COLUMNS
    judgments = Judgment.objects.filter(pair__prompt__campaign=campaign)
    aggregates: dict[str, Any] = {
        "judgments": Count("id"),
        "active_hours": Count(TruncHour("created_at"), distinct=True),
        "mean_time": Avg("time_on_task_ms"),
        "first": Min("created_at"),
        "last": Max("created_at"),
    }
    if is_postgresql():
        aggregates["median_time"] = Median("time_on_task_ms")
    rows = list(
        judgments.values("annotator_id", "annotator__username")
        .annotate(**aggregates)
        .order_by("annotator__username")
    )
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows).set_index("annotator_id")
    table = pd.DataFrame(index=frame.index)
    table["annotator"] = frame["annotator__username"]
    table["judgments"] = frame["judgments"]
    table["active_hours"] = frame["active_hours"]
    table["judgments_per_active_hour"] = frame["judgments"] / frame["active_hours"]
    table["mean_time_on_task_s"] = frame["mean_time"].astype(float) / 1000
    table["median_time_on_task_s"] = (
        frame["median_time"].astype(float) / 1000 if "median_time" in frame else float("nan")
    )
    gold = pd.DataFrame(gold_accuracy_by_annotator(campaign=campaign))
    if not gold.empty:
        gold = gold.set_index("annotator_id")
        table["gold_judgments"] = gold["gold_judgments"]
        table["gold_accuracy"] = gold["accuracy"]
        table["gold_flagged"] = gold["flagged"]
    else:
        table["gold_judgments"] = 0
        table["gold_accuracy"] = float("nan")
        table["gold_flagged"] = False
    table["gold_judgments"] = table["gold_judgments"].fillna(0).astype("int64")
    table["gold_flagged"] = table["gold_flagged"].fillna(False).astype(bool)
    with transaction.atomic(), connection.cursor() as cursor:
        _analytics_settings(cursor)
        cursor.execute(_PEER_SQL.format(**_tables()), [campaign.pk])
        peers = pd.DataFrame(
            cursor.fetchall(),
            columns=["annotator_id", "couples", "same_direction", "same_severity"],
        ).set_index("annotator_id")
    table["peer_couples"] = peers["couples"].reindex(table.index).fillna(0).astype("int64")
    table["peer_same_direction"] = (peers["same_direction"] / peers["couples"]).reindex(table.index)
    table["peer_same_severity"] = (peers["same_severity"] / peers["couples"]).reindex(table.index)
    left = {
        row["annotator"]: row["left_win_share"]
        for row in position_bias(campaign=campaign)["annotators"]
    }
    table["left_win_share"] = table["annotator"].map(left)
    return table.reset_index(drop=True)[columns]


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: its tables (name → title) and how to compute them."""

    slug: str
    title: str
    tables: tuple[tuple[str, str], ...]
    needs_ratings: bool


DASHBOARDS: tuple[Dashboard, ...] = (
    Dashboard(
        "safety",
        "Safe-completion figures",
        (
            ("safety_by_intent", "By intent"),
            ("safety_by_category", "By category"),
        ),
        True,
    ),
    Dashboard(
        "modes",
        "Response modes and reward",
        (
            ("modes_by_intent", "Response-mode mix by intent"),
            ("reward_by_style_model", "Mean reward by style and model"),
        ),
        True,
    ),
    Dashboard("annotators", "Annotators", (("annotators", "Annotators"),), False),
)
DASHBOARD_BY_SLUG = {dashboard.slug: dashboard for dashboard in DASHBOARDS}
TABLE_FUNCTIONS: dict[str, Callable[..., pd.DataFrame]] = {
    "safety_by_intent": safety_by_intent,
    "safety_by_category": safety_by_category,
    "modes_by_intent": modes_by_intent,
    "reward_by_style_model": reward_by_style_model,
    "annotators": annotators,
}
TABLE_TO_DASHBOARD = {
    table: dashboard.slug for dashboard in DASHBOARDS for table, _ in dashboard.tables
}


def dashboard_tables(*, campaign: Campaign, slug: str) -> dict[str, pd.DataFrame]:
    """Compute every table of one dashboard for ``campaign``."""
    dashboard = DASHBOARD_BY_SLUG[slug]
    frame = rating_counts(campaign=campaign) if dashboard.needs_ratings else pd.DataFrame()
    mapping = campaign.policy_version.severity_to_safety
    return {
        name: TABLE_FUNCTIONS[name](frame, campaign=campaign, severity_to_safety=mapping)
        if dashboard.needs_ratings
        else TABLE_FUNCTIONS[name](campaign=campaign)
        for name, _ in dashboard.tables
    }


def dashboard_table(*, campaign: Campaign, table: str) -> pd.DataFrame:
    """One table by name (for CSV downloads and the API)."""
    return dashboard_tables(campaign=campaign, slug=TABLE_TO_DASHBOARD[table])[table]


def dashboard_table_rows(
    *, campaign: Campaign, table: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """One table's columns and JSON-ready rows, computed now (CSV downloads and the API)."""
    frame = dashboard_table(campaign=campaign, table=table)
    return list(frame.columns), frame_records(frame)


def dashboard_figures(*, campaign: Campaign, dashboard: str) -> dict[str, Any]:
    """One dashboard computed now: JSON-ready tables (columns and rows), chart specifications,
    how many judgments the figures cover, when and in how many milliseconds; the annotators
    dashboard also when the consensus run its reliabilities come from was computed."""
    started = time.perf_counter()
    frames = dashboard_tables(campaign=campaign, slug=dashboard)
    figures: dict[str, Any] = {
        "judgments": _judgment_total(dashboard, frames),
        "tables": {
            name: {"columns": list(frame.columns), "rows": frame_records(frame)}
            for name, frame in frames.items()
        },
        "charts": dashboard_charts(dashboard, frames),
        "computed_at": timezone.now(),
    }
    if dashboard == "annotators":
        figures["consensus_computed_at"] = latest_consensus_time(campaign=campaign)
    figures["duration_ms"] = int((time.perf_counter() - started) * 1000)
    return figures


def _judgment_total(dashboard: str, frames: dict[str, pd.DataFrame]) -> int:
    """How many judgments the figures cover (each judgment rates two sides)."""
    if dashboard == "annotators":
        return int(frames["annotators"]["judgments"].sum())
    first = next(iter(frames.values()))
    return int(first["ratings"].sum()) // 2 if "ratings" in first else 0


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN becomes None, numpy scalars become Python numbers."""
    cleaned = frame.astype(object).where(pd.notna(frame), None)
    return [
        {key: (value.item() if hasattr(value, "item") else value) for key, value in row.items()}
        for row in cleaned.to_dict(orient="records")
    ]


def _series_label(row: dict[str, Any]) -> str:
    return f"{row['style']} · {row['model']}"


def dashboard_charts(slug: str, tables: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Chart specifications (labels and datasets) drawn by static/js/dashboards.js."""
    charts: list[dict[str, Any]] = []
    if slug == "safety":
        rows = frame_records(tables["safety_by_intent"])
        labels = [intent for intent in Intent.values if any(r["intent"] == intent for r in rows)]
        series = sorted({_series_label(r) for r in rows})
        for metric, title, y_max in (
            ("safe_share", "Share of safe outputs by intent", 1),
            (
                "mean_helpfulness_safe",
                f"Mean helpfulness ({HELPFULNESS_MIN}–{HELPFULNESS_MAX}) of safe outputs by intent",
                HELPFULNESS_MAX,
            ),
        ):
            lookup = {(r["intent"], _series_label(r)): r[metric] for r in rows}
            charts.append(
                {
                    "id": metric,
                    "title": title,
                    "labels": [value_label(INTENT_FIELD, intent) for intent in labels],
                    "yMax": y_max,
                    "stacked": False,
                    "datasets": [
                        {"label": name, "data": [lookup.get((x, name)) for x in labels]}
                        for name in series
                    ],
                }
            )
        severity_labels = [
            f"{value_label(INTENT_FIELD, r['intent'])} · {_series_label(r)}" for r in rows
        ]
        charts.append(
            {
                "id": "unsafe_severity",
                "title": "Severity of unsafe outputs (share of unsafe)",
                "labels": severity_labels,
                "yMax": 1,
                "stacked": True,
                "datasets": [
                    {
                        "label": value_label(SEVERITY_FIELD, level),
                        "data": [r[f"unsafe_{level}"] for r in rows],
                    }
                    for level in UNSAFE_LEVELS
                ],
            }
        )
    elif slug == "modes":
        rows = frame_records(tables["modes_by_intent"])
        charts.append(
            {
                "id": "modes",
                "title": "Response-mode mix by intent",
                "labels": [
                    f"{value_label(INTENT_FIELD, r['intent'])} · {_series_label(r)}" for r in rows
                ],
                "yMax": 1,
                "stacked": True,
                "datasets": [
                    {
                        "label": value_label(RESPONSE_MODE_FIELD, mode),
                        "data": [r[mode] for r in rows],
                    }
                    for mode in ResponseMode.values
                ],
            }
        )
        reward = frame_records(tables["reward_by_style_model"])
        charts.append(
            {
                "id": "reward",
                "title": "Mean reward r = h·s by style and model",
                "labels": [_series_label(r) for r in reward],
                "yMax": 1,
                "stacked": False,
                "datasets": [
                    {"label": name, "data": [r[key] for r in reward]}
                    for key, name in (("mean_s", "s"), ("mean_h", "h"), ("mean_r", "r"))
                ],
            }
        )
    elif slug == "annotators":
        rows = frame_records(tables["annotators"])
        charts.append(
            {
                "id": "throughput",
                "title": "Judgments per annotator",
                "labels": [r["annotator"] for r in rows],
                "yMax": None,
                "stacked": False,
                "datasets": [{"label": "judgments", "data": [r["judgments"] for r in rows]}],
            }
        )
        charts.append(
            {
                "id": "accuracy",
                "title": "Gold accuracy and agreement with peers",
                "labels": [r["annotator"] for r in rows],
                "yMax": 1,
                "stacked": False,
                "datasets": [
                    {"label": "gold accuracy", "data": [r["gold_accuracy"] for r in rows]},
                    {
                        "label": "same preference direction as peers",
                        "data": [r["peer_same_direction"] for r in rows],
                    },
                ],
            }
        )
    return charts
