"""The annotator's progress on the pair page: judged today, what the campaign still wants, and
when the campaign shows annotators their scores, their own gold score and their reliability per
field in the campaign's latest consensus run (``labeling/quality/consensus.py``).

The pair page loads it as a fragment of its own after each pair appears, so the round trip
(submit + next pair) costs what it did. On PostgreSQL the figures are one query on the
dashboards' pre-aggregates (``labeling/quality/aggregates.py``: judgments per annotator and
hour, and per annotator in all) and, when scores are shown, the latest consensus run's summary:
a few index probes (0.2 ms beside a million pairs). Counting the campaign's pairs is not cheap
at that size (about 200 ms), and pairs come only with imports and generation runs, so the count
rides along with that query once per :data:`PAIR_COUNT_SECONDS` per process and is kept in the
cache in between. The SQLite demo, which keeps no pre-aggregates, counts its judgments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from labeling.database import is_postgresql
from labeling.models import (
    Campaign,
    ConsensusRun,
    DashboardAnnotatorHour,
    DashboardAnnotatorTotal,
    Judgment,
    Pair,
)
from labeling.quality.consensus import CONSENSUS_FIELDS
from labeling.quality.consensus_runs import annotator_reliabilities
from labeling.quality.gold import gold_judgments_scored
from policy.rubric import FIELD_LABELS

# How long a campaign's pair count is kept before it is counted again.
PAIR_COUNT_SECONDS = 60


def _pair_count_key(campaign: Campaign) -> str:
    return f"graylab:annotation:pair-count:{campaign.pk}"


def _reliability_sql() -> str:
    """The annotator's reliability per field in the campaign's newest finished consensus run,
    and when it was computed, as one JSON object (NULL without a run)."""
    # Field names from the consensus module, fixed; the username is a bound parameter.
    per_field = ", ".join(
        f"'{name}', jsonb_path_query_first(r.summary, "
        f"'$.{name}.raters[*] ? (@.rater == $rater).reliability', "
        "jsonb_build_object('rater', %(username)s::text))"
        for name in CONSENSUS_FIELDS
    )
    runs = ConsensusRun._meta.db_table
    return (
        ", (SELECT jsonb_build_object('computed_at', r.computed_at, 'reliability', "  # noqa: S608
        f"jsonb_strip_nulls(jsonb_build_object({per_field}))) FROM {runs} r "
        "WHERE r.campaign_id = %(campaign)s AND r.status = %(done)s "
        "ORDER BY r.computed_at DESC, r.id DESC LIMIT 1)"
    )


def _progress_sql(*, count_pairs: bool, reliability: bool = False) -> str:
    """The figures of :func:`annotator_progress` in one statement (PostgreSQL), then the
    consensus reliability when ``reliability`` and the campaign's pair count last when
    ``count_pairs``."""
    pairs = Pair._meta.db_table
    # Fixed table names from the models' metadata; every value is a bound parameter.
    count = f", (SELECT COUNT(*) FROM {pairs} p WHERE p.campaign_id = %(campaign)s)"  # noqa: S608
    return (  # noqa: S608
        "SELECT (SELECT COALESCE(SUM(h.judgments), 0) FROM {hour} h "
        "WHERE h.campaign_id = %(campaign)s AND h.annotator_id = %(annotator)s "
        "AND h.hour >= %(today)s), "
        "(SELECT COALESCE(SUM(t.judgments), 0) FROM {total} t "
        "WHERE t.campaign_id = %(campaign)s), "
        "(SELECT t.gold_judgments FROM {total} t "
        "WHERE t.campaign_id = %(campaign)s AND t.annotator_id = %(annotator)s), "
        "(SELECT t.gold_passed FROM {total} t "
        "WHERE t.campaign_id = %(campaign)s AND t.annotator_id = %(annotator)s)"
        "{reliability}{count}"
    ).format(
        hour=DashboardAnnotatorHour._meta.db_table,
        total=DashboardAnnotatorTotal._meta.db_table,
        reliability=_reliability_sql() if reliability else "",
        count=count if count_pairs else "",
    )


@dataclass(frozen=True)
class Progress:
    """What the pair page shows of an annotator's progress in one campaign."""

    done_today: int
    judgments_left: int
    pairs: int
    gold_judgments: int | None = None
    gold_passed: int | None = None
    reliability: dict[str, float] | None = None
    """field -> reliability in the latest consensus run (empty when it does not rate this
    annotator); None when the campaign does not show scores."""
    reliability_at: datetime | None = None

    @property
    def gold_percent(self) -> int | None:
        """The share of gold judgments passed, in percent, once there is any."""
        if not self.gold_judgments:
            return None
        return round(100 * (self.gold_passed or 0) / self.gold_judgments)

    @property
    def reliability_shown(self) -> list[tuple[str, float]]:
        """(field label, reliability) in the rubric's order of the consensus fields."""
        found = self.reliability or {}
        return [(FIELD_LABELS[name], found[name]) for name in CONSENSUS_FIELDS if name in found]


def today_start() -> datetime:
    """Midnight of today in the site's time zone (when "today" starts for the count)."""
    now = timezone.localtime()
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def annotator_progress(*, campaign: Campaign, annotator: User) -> Progress:
    """``annotator``'s progress in ``campaign``; the gold figures and the consensus
    reliability only when the campaign shows scores. "Left" counts the judgments the campaign
    still wants (its pairs times the judgments per pair, less those made)."""
    shown = campaign.show_gold_score
    consensus: dict[str, Any] | None = None
    if is_postgresql():
        pairs = cache.get(_pair_count_key(campaign))
        with connection.cursor() as cursor:
            cursor.execute(
                _progress_sql(count_pairs=pairs is None, reliability=shown),
                {
                    "campaign": campaign.pk,
                    "annotator": annotator.pk,
                    "username": annotator.get_username(),
                    "today": today_start(),
                    "done": ConsensusRun.Status.DONE.value,
                },
            )
            row = cursor.fetchone()
        done_today, judged, gold_judgments, gold_passed, *rest = row
        if shown:
            # Django has the driver hand JSON over as text, for its fields to decode.
            found = rest.pop(0)
            consensus = json.loads(found) if isinstance(found, str) else found
        if pairs is None:
            pairs = rest[0]
            cache.set(_pair_count_key(campaign), pairs, PAIR_COUNT_SECONDS)
    else:
        done_today, judged, pairs, gold_judgments, gold_passed = _counted(campaign, annotator)
        if shown:
            consensus = _reliability_counted(campaign, annotator)
    wanted = pairs * campaign.judgments_per_pair
    return Progress(
        done_today=int(done_today),
        judgments_left=max(0, wanted - int(judged)),
        pairs=int(pairs),
        gold_judgments=int(gold_judgments or 0) if shown else None,
        gold_passed=int(gold_passed or 0) if shown else None,
        reliability=dict(consensus["reliability"]) if consensus else ({} if shown else None),
        reliability_at=_moment(consensus["computed_at"]) if consensus else None,
    )


def _moment(value: Any) -> datetime | None:
    """A time as the database's JSON gives it (ISO text) or as the ORM does."""
    return parse_datetime(value) if isinstance(value, str) else value


def _reliability_counted(campaign: Campaign, annotator: User) -> dict[str, Any] | None:
    """The consensus reliability by the ORM (the embedded demo's SQLite database)."""
    computed_at, reliabilities = annotator_reliabilities(campaign=campaign)
    if computed_at is None:
        return None
    return {
        "computed_at": computed_at,
        "reliability": reliabilities.get(annotator.get_username(), {}),
    }


def _counted(campaign: Campaign, annotator: User) -> tuple[int, int, int, int, int]:
    """The same figures by counting rows (the embedded demo's small SQLite database)."""
    judgments = Judgment.objects.filter(pair__campaign=campaign).aggregate(
        judged=Count("id"),
        today=Count("id", filter=Q(annotator=annotator, created_at__gte=today_start())),
    )
    pairs = Pair.objects.filter(campaign=campaign).count()
    gold = [
        row["passed"]
        for row in gold_judgments_scored(campaign=campaign)
        if row["annotator_id"] == annotator.pk
    ]
    return judgments["today"], judgments["judged"], pairs, len(gold), sum(gold)
