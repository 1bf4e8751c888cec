"""Head-to-head comparisons of a campaign's sources: who wins, by how much, and the ranking.

A **source** is what wrote a candidate: its model and, for generated candidates, its style
(``gpt-4o · safe-completion-style``); an imported candidate's model is its source name. Every
pair whose two candidates come from different sources is a head-to-head of those two.

**Preferences.** ``human``: every judgment's preference, and a pair's imported prior preference
(e.g. HH-RLHF's chosen/rejected) as one more rater. ``grader``: a grader version's pair grades,
its two orders combined as calibration combines them (their mean truncated toward zero,
:func:`labeling.grading.calibration.combined_preference`), one comparison per pair. ``both``:
the two together, each a comparison of its own. A preference scores the side it favours 1, the
other 0; a tie scores each ½.

**Win rate** of one source over another: its mean score over their comparisons, with a seeded
bootstrap 95% percentile interval that resamples *pairs* (a pair's judgments move together, as
they are not independent). Two sources with no judged pair between them get no figure, and
say so.

**Bradley–Terry ranking**: the maximum-likelihood strengths of ``choix`` (``ilsr_pairwise_dense``
on the matrix of scores, ties counted half to each side, lightly regularised with
:data:`BT_ALPHA` so a source that never lost still has a finite strength), log-scale with mean 0
over the ranked sources, and bootstrap 95% intervals from refitting on resampled pairs (at most
:data:`BT_RESAMPLES` of them). Only
sources linked by comparisons (directly or through others) can be ranked together: the largest
such group is ranked, any other source is listed as unranked with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import choix
import numpy as np
from django.db.models import Q

from ..grading.calibration import combined_preference
from ..models import Campaign, Candidate, Grade, GraderVersion, Judgment, Pair

PreferenceSource = Literal["human", "grader", "both"]
PREFERENCE_SOURCES: tuple[str, ...] = ("human", "grader", "both")
SOURCE_LABELS = {
    "human": "human preferences (judgments and imported prior preferences)",
    "grader": "grader preferences (pair grades, both orders combined)",
    "both": "human and grader preferences together",
}
RESAMPLES = 1000
# The ranking refits the model once per resample, some milliseconds each: fewer resamples keep
# the page quick, and 300 already place the 2.5% and 97.5% percentiles.
BT_RESAMPLES = 300
BT_ALPHA = 0.01
BT_MAX_ITER = 10_000
# Cells of one bootstrap draw matrix (resamples × pairs) held at a time.
_DRAW_CELLS = 2_000_000
NO_PAIRS = "no judged pairs between these two sources: nothing to compare"
NOT_CONNECTED = "no comparison links this source to the ranked ones"
NEVER_COMPARED = "never compared with another source"


def source_name(*, model: str, style: str, source: str) -> str:
    """A candidate's source as the comparison names it: model × style."""
    name = model or source
    return f"{name} · {style}" if style else name


@dataclass
class Comparisons:
    """Every comparison of the selection, one per row: its pair (the resampling unit), the
    indices of its two sources (``first`` < ``second`` in the source list) and the first's
    score (1, ½ or 0)."""

    sources: list[str]
    cluster: np.ndarray
    first: np.ndarray
    second: np.ndarray
    score: np.ndarray
    human: int
    grader: int


def grader_versions_of(campaign: Campaign) -> list[GraderVersion]:
    """The grader versions with pair grades in this campaign, by grader name and number."""
    graded = Grade.objects.filter(kind=Grade.Kind.PAIR, pair__campaign=campaign).values(
        "grader_version"
    )
    return list(
        GraderVersion.objects.filter(pk__in=graded)
        .select_related("grader")
        .order_by("grader__name", "number")
    )


def campaign_sources(campaign: Campaign) -> list[str]:
    """Every source of the campaign's candidates, sorted."""
    rows = (
        Candidate.objects.filter(prompt__campaign=campaign)
        .values_list("model", "style", "source")
        .distinct()
    )
    return sorted({source_name(model=m, style=st, source=so) for m, st, so in rows})


def _score(preference: float) -> float:
    """Candidate A's score of a canonical preference (negative: A better)."""
    if preference < 0:
        return 1.0
    if preference > 0:
        return 0.0
    return 0.5


def collect_comparisons(
    *,
    campaign: Campaign,
    source: PreferenceSource,
    version: GraderVersion | None = None,
    intent: str | None = None,
    category: str | None = None,
) -> Comparisons:
    """The comparisons of a campaign (optionally one intent or category) from ``source``."""
    sources = campaign_sources(campaign)
    index = {name: position for position, name in enumerate(sources)}
    pairs = Pair.objects.filter(campaign=campaign)
    scope = Q()
    if intent:
        pairs = pairs.filter(prompt__intent=intent)
        scope &= Q(pair__prompt__intent=intent)
    if category:
        pairs = pairs.filter(prompt__category_path=category)
        scope &= Q(pair__prompt__category_path=category)
    sides: dict[int, tuple[int, int]] = {}
    priors: dict[int, float] = {}
    rows = pairs.values_list(
        "id",
        "candidate_a__model",
        "candidate_a__style",
        "candidate_a__source",
        "candidate_b__model",
        "candidate_b__style",
        "candidate_b__source",
        "prior_preference",
    )
    for pair_id, a_model, a_style, a_source, b_model, b_style, b_source, prior in rows.iterator(
        chunk_size=5000
    ):
        a = index[source_name(model=a_model, style=a_style, source=a_source)]
        b = index[source_name(model=b_model, style=b_style, source=b_source)]
        if a != b:
            sides[pair_id] = (a, b)
            if prior is not None:
                priors[pair_id] = prior
    found: list[tuple[int, float]] = []  # (pair id, canonical preference)
    human = grader = 0
    if source in ("human", "both"):
        judged = Judgment.objects.filter(scope, pair__campaign=campaign).values_list(
            "pair_id", "preference"
        )
        for pair_id, judged_preference in judged.iterator(chunk_size=5000):
            if pair_id in sides:
                found.append((pair_id, float(judged_preference)))
                human += 1
        for pair_id, prior in priors.items():
            found.append((pair_id, prior))
            human += 1
    if source in ("grader", "both") and version is not None:
        orders: dict[int, list[int]] = defaultdict(list)
        graded = Grade.objects.filter(
            scope, grader_version=version, kind=Grade.Kind.PAIR, pair__campaign=campaign
        ).values_list("pair_id", "preference")
        for pair_id, graded_preference in graded.iterator(chunk_size=5000):
            if pair_id in sides and graded_preference is not None:
                orders[pair_id].append(graded_preference)
        for pair_id, both_orders in orders.items():
            found.append((pair_id, float(combined_preference(both_orders))))
            grader += 1
    cluster = np.empty(len(found), dtype=np.int64)
    first = np.empty(len(found), dtype=np.int64)
    second = np.empty(len(found), dtype=np.int64)
    score = np.empty(len(found), dtype=np.float64)
    for row, (pair_id, canonical) in enumerate(found):
        a, b = sides[pair_id]
        a_score = _score(canonical)
        cluster[row] = pair_id
        if a < b:
            first[row], second[row], score[row] = a, b, a_score
        else:
            first[row], second[row], score[row] = b, a, 1.0 - a_score
    return Comparisons(sources, cluster, first, second, score, human, grader)


def _clusters(cluster: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: the sum of ``values`` and the number of comparisons."""
    _, inverse = np.unique(cluster, return_inverse=True)
    inverse = inverse.reshape(-1)
    return np.bincount(inverse, weights=values), np.bincount(inverse).astype(np.float64)


def win_rate_interval(
    sums: np.ndarray, counts: np.ndarray, *, reps: int, rng: np.random.Generator
) -> list[float | None]:
    """95% percentile interval of the win rate over ``reps`` resamples of the pairs."""
    units = len(sums)
    if units < 2 or reps <= 0:
        return [None, None]
    estimates = np.empty(reps, dtype=np.float64)
    step = max(1, _DRAW_CELLS // units)
    for start in range(0, reps, step):
        size = min(step, reps - start)
        draw = rng.integers(0, units, size=(size, units))
        estimates[start : start + size] = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    low, high = np.percentile(estimates, [2.5, 97.5])
    return [float(low), float(high)]


def head_to_head(comparisons: Comparisons, *, reps: int, seed: int) -> list[dict[str, Any]]:
    """For every two sources, the first's win rate over the second, its interval and counts."""
    rows = []
    sources = comparisons.sources
    for first, second in combinations(range(len(sources)), 2):
        mask = (comparisons.first == first) & (comparisons.second == second)
        scores = comparisons.score[mask]
        row: dict[str, Any] = {
            "first": sources[first],
            "second": sources[second],
            "pairs": 0,
            "comparisons": int(scores.size),
            "wins": int((scores == 1.0).sum()),
            "ties": int((scores == 0.5).sum()),
            "losses": int((scores == 0.0).sum()),
            "win_rate": None,
            "ci95": [None, None],
            "note": NO_PAIRS,
        }
        if scores.size:
            sums, counts = _clusters(comparisons.cluster[mask], scores)
            # Seeded per pair of sources, so one pair's interval does not depend on the others.
            rng = np.random.default_rng([seed, first, second])
            row |= {
                "pairs": len(sums),
                "win_rate": float(scores.mean()),
                "ci95": win_rate_interval(sums, counts, reps=reps, rng=rng),
                "note": "" if len(sums) >= 2 else "one judged pair: no interval",
            }
        rows.append(row)
    return rows


def _largest_group(size: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """The sources of the largest group linked by comparisons (more than one source)."""
    parent = list(range(size))

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    linked: set[int] = set()
    for first, second in edges:
        parent[root(first)] = root(second)
        linked |= {first, second}
    groups: dict[int, list[int]] = defaultdict(list)
    for item in sorted(linked):
        groups[root(item)].append(item)
    return max(groups.values(), key=lambda group: (len(group), -group[0]), default=[])


def score_matrix(
    first: np.ndarray, second: np.ndarray, score: np.ndarray, size: int, weights: np.ndarray
) -> np.ndarray:
    """``matrix[i, j]``: how often source ``i`` beat ``j`` (ties half), comparisons weighted."""
    wins = np.bincount(first * size + second, weights=weights * score, minlength=size * size)
    losses = np.bincount(
        second * size + first, weights=weights * (1.0 - score), minlength=size * size
    )
    return (wins + losses).reshape(size, size)


def bt_strengths(matrix: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Bradley–Terry log-strengths (mean 0) of a score matrix, by ``choix``; ``start`` (the
    full data's fit, for a resample) only shortens the iterations, the optimum is the same."""
    params = choix.ilsr_pairwise_dense(
        matrix, alpha=BT_ALPHA, initial_params=start, max_iter=BT_MAX_ITER
    )
    return np.asarray(params - params.mean(), dtype=np.float64)


def bradley_terry(comparisons: Comparisons, *, reps: int, seed: int) -> dict[str, Any]:
    """The ranking of the largest linked group of sources, with bootstrap intervals."""
    sources = comparisons.sources
    edges = set(zip(comparisons.first.tolist(), comparisons.second.tolist(), strict=True))
    group = _largest_group(len(sources), edges)
    unranked = []
    compared = {item for edge in edges for item in edge}
    for position, name in enumerate(sources):
        if position not in group:
            reason = NOT_CONNECTED if position in compared else NEVER_COMPARED
            unranked.append({"source": name, "reason": reason})
    if len(group) < 2:
        return {"ranking": [], "unranked": unranked}
    local = {source: position for position, source in enumerate(group)}
    mask = np.isin(comparisons.first, group)
    first = np.array([local[i] for i in comparisons.first[mask].tolist()], dtype=np.int64)
    second = np.array([local[i] for i in comparisons.second[mask].tolist()], dtype=np.int64)
    score = comparisons.score[mask]
    size = len(group)
    strengths = bt_strengths(score_matrix(first, second, score, size, np.ones(score.size)))
    _, inverse = np.unique(comparisons.cluster[mask], return_inverse=True)
    inverse = inverse.reshape(-1)
    units = int(inverse.max()) + 1
    intervals: list[list[float | None]] = [[None, None]] * size
    if reps > 0 and units >= 2:
        rng = np.random.default_rng([seed, len(sources)])
        samples = np.empty((reps, size), dtype=np.float64)
        for rep in range(reps):
            weights = np.bincount(rng.integers(0, units, size=units), minlength=units)
            matrix = score_matrix(first, second, score, size, weights[inverse].astype(float))
            samples[rep] = bt_strengths(matrix, strengths)
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
        intervals = [[float(lo), float(hi)] for lo, hi in zip(low, high, strict=True)]
    counts = np.bincount(np.concatenate([first, second]), minlength=size)
    order = sorted(range(size), key=lambda item: (-strengths[item], sources[group[item]]))
    ranking = [
        {
            "rank": rank,
            "source": sources[group[item]],
            "strength": float(strengths[item]),
            "ci95": intervals[item],
            "comparisons": int(counts[item]),
        }
        for rank, item in enumerate(order, start=1)
    ]
    return {"ranking": ranking, "unranked": unranked}


def comparison_report(
    *,
    campaign: Campaign,
    source: PreferenceSource = "human",
    version: GraderVersion | None = None,
    intent: str | None = None,
    category: str | None = None,
    reps: int = RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the Compare page, its CSV, the API and ``manage.py compare --json`` show."""
    comparisons = collect_comparisons(
        campaign=campaign, source=source, version=version, intent=intent, category=category
    )
    notes = []
    if len(comparisons.sources) < 2:
        notes.append("the campaign has fewer than two sources: there is nothing to compare")
    elif comparisons.score.size == 0:
        notes.append("no judged pair of two different sources in this selection")
    ranked = bradley_terry(comparisons, reps=min(reps, BT_RESAMPLES), seed=seed)
    return {
        "campaign": campaign.slug,
        "source": source,
        "labels": SOURCE_LABELS[source],
        "grader": {"name": version.grader.name, "version": version.number}
        if version is not None and source != "human"
        else None,
        "intent": intent or None,
        "category": category or None,
        "reps": reps,
        "ranking_reps": min(reps, BT_RESAMPLES),
        "seed": seed,
        "sources": comparisons.sources,
        "comparisons": {
            "total": int(comparisons.score.size),
            "human": comparisons.human,
            "grader": comparisons.grader,
            "pairs": int(np.unique(comparisons.cluster).size),
        },
        "head_to_head": head_to_head(comparisons, reps=reps, seed=seed),
        "ranking": ranked["ranking"],
        "unranked": ranked["unranked"],
        "notes": notes,
    }
