"""The annotator's progress on the pair page: judged today, what the campaign still wants, and
their own gold score when the campaign shows it.

The pair page loads it as a fragment of its own after each pair appears, so the round trip
(submit + next pair) costs what it did. On PostgreSQL the figures are one query on the
dashboards' pre-aggregates (``labeling/quality/aggregates.py``: judgments per annotator and
hour, and per annotator in all), a few index probes (0.2 ms beside a million pairs). Counting
the campaign's pairs is not cheap at that size (about 200 ms), and pairs come only with
imports and generation runs, so the count rides along with that query once per
:data:`PAIR_COUNT_SECONDS` per process and is kept in the cache in between. The SQLite demo,
which keeps no pre-aggregates, counts its judgments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from labeling.database import is_postgresql
from labeling.models import (
    Campaign,
    DashboardAnnotatorHour,
    DashboardAnnotatorTotal,
    Judgment,
    Pair,
)
from labeling.quality.gold import gold_judgments_scored

# How long a campaign's pair count is kept before it is counted again.
PAIR_COUNT_SECONDS = 60


def _pair_count_key(campaign: Campaign) -> str:
    return f"graylab:annotation:pair-count:{campaign.pk}"


def _progress_sql(*, count_pairs: bool) -> str:
    """The figures of :func:`annotator_progress` in one statement (PostgreSQL), with the
    campaign's pair count last when ``count_pairs``."""
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
        "{count}"
    ).format(
        hour=DashboardAnnotatorHour._meta.db_table,
        total=DashboardAnnotatorTotal._meta.db_table,
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

    @property
    def gold_percent(self) -> int | None:
        """The share of gold judgments passed, in percent, once there is any."""
        if not self.gold_judgments:
            return None
        return round(100 * (self.gold_passed or 0) / self.gold_judgments)


def today_start() -> datetime:
    """Midnight of today in the site's time zone (when "today" starts for the count)."""
    now = timezone.localtime()
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def annotator_progress(*, campaign: Campaign, annotator: User) -> Progress:
    """``annotator``'s progress in ``campaign``; the gold figures only when the campaign
    shows them. "Left" counts the judgments the campaign still wants (its pairs times the
    judgments per pair, less those made)."""
    if is_postgresql():
        pairs = cache.get(_pair_count_key(campaign))
        with connection.cursor() as cursor:
            cursor.execute(
                _progress_sql(count_pairs=pairs is None),
                {"campaign": campaign.pk, "annotator": annotator.pk, "today": today_start()},
            )
            row = cursor.fetchone()
        done_today, judged, gold_judgments, gold_passed, *counted = row
        if pairs is None:
            pairs = counted[0]
            cache.set(_pair_count_key(campaign), pairs, PAIR_COUNT_SECONDS)
    else:
        done_today, judged, pairs, gold_judgments, gold_passed = _counted(campaign, annotator)
    wanted = pairs * campaign.judgments_per_pair
    shown = campaign.show_gold_score
    return Progress(
        done_today=int(done_today),
        judgments_left=max(0, wanted - int(judged)),
        pairs=int(pairs),
        gold_judgments=int(gold_judgments or 0) if shown else None,
        gold_passed=int(gold_passed or 0) if shown else None,
    )


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
