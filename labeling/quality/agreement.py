"""Chance-corrected agreement: Krippendorff's α (with bootstrap intervals) and Cohen's κ.

The formulas come from well-kept libraries — ``krippendorff`` for α and statsmodels'
``cohens_kappa`` for κ (equal to scikit-learn's ``cohen_kappa_score``, checked in the tests) —
this module only shapes the data for them.

Units and raters:

* ``response_mode`` (nominal), ``severity`` (ordinal, 0-4) and ``helpfulness`` (ordinal, 1-4)
  are rated per **candidate**: each judgment rates both sides of its pair, and a candidate sits
  in several pairs. When one annotator rated the same candidate in several pairs, their value
  for it is the lower median of their ratings (ordinal fields, stays on the scale) or the most
  frequent value, ties broken by rubric order (response mode).
* ``preference`` (interval, −2…+2) is rated per **pair**.
* Labels imported with a candidate (``Candidate.prior_labels``) count as extra annotators:
  prior labels in rubric terms (``{"raters": [{"rater": NAME, "response_mode", "severity",
  "helpfulness"}]}``, from the generic candidate formats) as ``prior:NAME`` for every field
  they rate; XSTest's ``annotation_1``/``annotation_2`` as ``prior:annotation_1`` and so on,
  for ``response_mode`` only, mapped by ``PRIOR_LABEL_TO_RESPONSE_MODE`` (the importer's
  XSTest form ``{"xstest": {"annotation_1": …}}`` gives ``xstest:annotation_1``).

Cohen's κ is unweighted for the nominal response mode and linearly weighted for the ordered
scales, between every two annotators who rated at least two common units.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import krippendorff
import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa

from labeling.models import Campaign, Candidate, Judgment, Pair
from policy.rubric import (
    HELPFULNESS_FIELD,
    HELPFULNESS_GRADES,
    PREFERENCE_FIELD,
    PREFERENCE_VALUES,
    RESPONSE_MODE_FIELD,
    RESPONSE_MODES,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    SIDE_FIELDS,
    ResponseMode,
    side_fields,
)

# XSTest's three labels, mapped onto the rubric's response modes. "Partial refusal" (declines,
# then helps anyway, or helps with part) is closest to a refusal that still offers something.
PRIOR_LABEL_TO_RESPONSE_MODE: dict[str, str] = {
    "1_full_compliance": ResponseMode.DIRECT_ANSWER,
    "2_full_refusal": ResponseMode.HARD_REFUSAL,
    "3_partial_refusal": ResponseMode.REFUSAL_WITH_REDIRECTION,
}
PRIOR_ANNOTATOR_KEY = re.compile(r"^annotation_\d+$")
# Where prior labels in rubric terms sit in Candidate.prior_labels (labeling.imports.prior_labels).
PRIOR_RATERS_KEY = "raters"

Level = Literal["nominal", "ordinal", "interval"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    level: Level
    domain: tuple[Any, ...]
    kappa_weights: Literal["linear"] | None


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(RESPONSE_MODE_FIELD, "nominal", RESPONSE_MODES, None),
    FieldSpec(SEVERITY_FIELD, "ordinal", SEVERITY_LEVELS, "linear"),
    FieldSpec(HELPFULNESS_FIELD, "ordinal", HELPFULNESS_GRADES, "linear"),
    FieldSpec(PREFERENCE_FIELD, "interval", PREFERENCE_VALUES, "linear"),
)
FIELD_BY_NAME = {spec.name: spec for spec in FIELDS}

# unit -> rater -> value (already reduced to one value per rater and unit)
Ratings = dict[Any, dict[str, Any]]


def reduce_ratings(spec: FieldSpec, values: list[Any]) -> Any:
    """One rater's value for a unit they rated several times (see the module docstring)."""
    if len(values) == 1:
        return values[0]
    if spec.level == "nominal":
        counts = Counter(values)
        best = max(counts.values())
        return next(v for v in spec.domain if counts.get(v) == best)
    ordered = sorted(values, key=spec.domain.index)
    return ordered[(len(ordered) - 1) // 2]


def prior_ratings(labels: Any) -> list[tuple[str, str, Any]]:
    """(rater name, field, value) triples from a candidate's imported labels.

    Prior labels in rubric terms, ``{"raters": [{"rater": NAME, <field>: value, …}]}``, give
    rater ``prior:NAME`` for each field rated (the importer checked the values against the
    rubric; anything else found there is left out). XSTest's labels give response modes (see
    :func:`prior_raters`).
    """
    if not isinstance(labels, dict):
        return []
    found: list[tuple[str, str, Any]] = []
    raters = labels.get(PRIOR_RATERS_KEY)
    if isinstance(raters, list):
        for entry in raters:
            if not isinstance(entry, dict) or not isinstance(entry.get("rater"), str):
                continue
            for spec in FIELDS:
                value = entry.get(spec.name)
                if spec.name != PREFERENCE_FIELD and value in spec.domain:
                    found.append((f"prior:{entry['rater']}", spec.name, value))
    others = {key: value for key, value in labels.items() if key != PRIOR_RATERS_KEY}
    found.extend((rater, RESPONSE_MODE_FIELD, mode) for rater, mode in prior_raters(others))
    return found


def prior_raters(labels: Any) -> list[tuple[str, str]]:
    """(rater name, response mode) pairs from a candidate's imported XSTest labels.

    Accepts the importer's nested form ``{"xstest": {"annotation_1": …, "annotation_2": …}}``
    (raters ``xstest:annotation_1`` …) and a flat ``{"annotation_1": …}`` (``prior:…``).
    Keys other than ``annotation_<n>`` (``agreement``, ``final_label``) are not raters.
    """
    found: list[tuple[str, str]] = []
    if not isinstance(labels, dict):
        return found
    for source, value in sorted(labels.items()):
        group = value if isinstance(value, dict) else {source: value}
        prefix = source if isinstance(value, dict) else "prior"
        for key, label in sorted(group.items()):
            mode = PRIOR_LABEL_TO_RESPONSE_MODE.get(str(label).strip())
            if PRIOR_ANNOTATOR_KEY.match(str(key)) and mode is not None:
                found.append((f"{prefix}:{key}", str(mode)))
    return found


def collect_ratings(
    *,
    campaign: Campaign,
    category: str | None = None,
    intent: str | None = None,
    include_prior: bool = True,
) -> dict[str, Ratings]:
    """Ratings per field for a campaign, optionally restricted to a category or an intent."""
    judgments = Judgment.objects.filter(pair__prompt__campaign=campaign)
    candidates = Candidate.objects.filter(prompt__campaign=campaign)
    if category:
        judgments = judgments.filter(pair__prompt__category_path=category)
        candidates = candidates.filter(prompt__category_path=category)
    if intent:
        judgments = judgments.filter(pair__prompt__intent=intent)
        candidates = candidates.filter(prompt__intent=intent)
    raw: dict[str, dict[Any, dict[str, list[Any]]]] = {
        spec.name: defaultdict(lambda: defaultdict(list)) for spec in FIELDS
    }
    rows = judgments.values_list(
        "annotator__username",
        "pair_id",
        "pair__candidate_a_id",
        "pair__candidate_b_id",
        *side_fields("a"),
        *side_fields("b"),
        PREFERENCE_FIELD,
    )
    side_count = len(SIDE_FIELDS)
    for rater, pair_id, candidate_a, candidate_b, *ratings in rows.iterator(chunk_size=5000):
        a_values, b_values = ratings[:side_count], ratings[side_count : 2 * side_count]
        for name, a_value, b_value in zip(SIDE_FIELDS, a_values, b_values, strict=True):
            raw[name][candidate_a][rater].append(a_value)
            raw[name][candidate_b][rater].append(b_value)
        raw[PREFERENCE_FIELD][pair_id][rater].append(ratings[-1])
    if include_prior:
        prior_rows = candidates.exclude(prior_labels={}).values_list("id", "prior_labels")
        for candidate_id, labels in prior_rows.iterator(chunk_size=5000):
            for rater, name, label in prior_ratings(labels):
                raw[name][candidate_id][rater].append(label)
    return {
        spec.name: {
            unit: {rater: reduce_ratings(spec, values) for rater, values in raters.items()}
            for unit, raters in raw[spec.name].items()
        }
        for spec in FIELDS
    }


def value_counts(spec: FieldSpec, ratings: Ratings) -> np.ndarray:
    """Units × values count matrix, keeping only units rated by at least two raters."""
    index = {value: position for position, value in enumerate(spec.domain)}
    pairable = [raters for raters in ratings.values() if len(raters) >= 2]
    counts = np.zeros((len(pairable), len(spec.domain)), dtype=np.float64)
    for row, raters in enumerate(pairable):
        for value in raters.values():
            counts[row, index[value]] += 1
    return counts


def _numeric_domain(spec: FieldSpec) -> np.ndarray:
    # Ordinal and nominal distances only use ranks; interval uses the values themselves.
    if spec.level == "interval":
        return np.asarray(spec.domain, dtype=np.float64)
    return np.arange(len(spec.domain), dtype=np.float64)


def alpha_from_counts(spec: FieldSpec, counts: np.ndarray) -> float | None:
    """Krippendorff's α from a value-count matrix; None when it is undefined."""
    if counts.shape[0] == 0:
        return None
    try:
        # 0/0 when every rating holds one value: α is undefined, reported as None.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = float(
                krippendorff.alpha(
                    value_counts=counts,
                    value_domain=_numeric_domain(spec),
                    level_of_measurement=spec.level,
                )
            )
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def bootstrap_interval(
    spec: FieldSpec, counts: np.ndarray, *, reps: int, seed: int
) -> list[float | None]:
    """95% percentile interval of α over ``reps`` resamples of the units (seeded).

    Each resample draws its units as ``counts[rng.integers(0, units, size=units)]`` would, and
    its α is Krippendorff's formula (as the ``krippendorff`` library computes it) from the
    resample's coincidence matrix, summed from the coincidences of each distinct row of
    ``counts`` times how often the resample drew it. Rows repeat a lot (grader against
    consensus has at most one row per pair of values), so a resample costs a draw and a
    ``bincount`` instead of a pass over every unit.
    """
    units = counts.shape[0]
    if units < 2 or reps <= 0:
        return [None, None]
    patterns, inverse = np.unique(counts, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    size = len(spec.domain)
    pairable = np.maximum(patterns.sum(axis=1), 2) - 1
    pattern_coincidences = (
        patterns[:, :, np.newaxis] * patterns[:, np.newaxis, :]
        - patterns[:, np.newaxis, :] * np.eye(size)[np.newaxis, ...]
    ) / pairable.reshape(-1, 1, 1)
    rng = np.random.default_rng(seed)
    weights = np.empty((reps, len(patterns)), dtype=np.float64)
    for rep in range(reps):
        weights[rep] = np.bincount(
            inverse[rng.integers(0, units, size=units)], minlength=len(patterns)
        )
    observed = np.tensordot(weights, pattern_coincidences, axes=1)  # reps × V × V
    n_v = observed.sum(axis=1)
    expected = (
        n_v[:, :, np.newaxis] * n_v[:, np.newaxis, :] - n_v[:, np.newaxis, :] * np.eye(size)
    ) / (n_v.sum(axis=1) - 1).reshape(-1, 1, 1)
    distances = _resample_distances(spec, n_v)
    with np.errstate(all="ignore"):
        estimates = 1 - (observed * distances).sum(axis=(1, 2)) / (expected * distances).sum(
            axis=(1, 2)
        )
    estimates = estimates[np.isfinite(estimates)]
    if estimates.size == 0:
        return [None, None]
    low, high = np.percentile(estimates, [2.5, 97.5])
    return [float(low), float(high)]


def _resample_distances(spec: FieldSpec, n_v: np.ndarray) -> np.ndarray:
    """Each resample's squared distance between every two values (reps × V × V), by the
    ``krippendorff`` library's metrics: the ordinal one depends on the resample's marginals."""
    domain = _numeric_domain(spec)
    if spec.level == "nominal":
        single = (domain[:, np.newaxis] != domain[np.newaxis, :]).astype(np.float64)
        return np.broadcast_to(single, (n_v.shape[0], *single.shape))
    if spec.level == "interval":
        single = (domain[:, np.newaxis] - domain[np.newaxis, :]) ** 2
        return np.broadcast_to(single, (n_v.shape[0], *single.shape))
    # Ordinal: (sum of n_g for g between the two values, both included, − (n_c + n_k) / 2)².
    indices = np.arange(len(domain))
    low = np.minimum(indices[:, np.newaxis], indices[np.newaxis, :])
    high = np.maximum(indices[:, np.newaxis], indices[np.newaxis, :])
    running = np.concatenate([np.zeros((n_v.shape[0], 1)), np.cumsum(n_v, axis=1)], axis=1)
    between = running[:, high + 1] - running[:, low]
    halves = (n_v[:, :, np.newaxis] + n_v[:, np.newaxis, :]) / 2
    return (between - halves) ** 2


def field_alpha(
    spec: FieldSpec, ratings: Ratings, *, reps: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """α, its interval, the number of units that count and the number of ratings."""
    counts = value_counts(spec, ratings)
    return {
        "alpha": alpha_from_counts(spec, counts),
        "ci95": bootstrap_interval(spec, counts, reps=reps, seed=seed),
        "items": int(counts.shape[0]),
        "judgments": int(sum(len(raters) for raters in ratings.values())),
    }


def pairwise_kappa(spec: FieldSpec, ratings: Ratings, *, min_items: int = 2) -> list[dict]:
    """Cohen's κ for every two raters with at least ``min_items`` common units."""
    common: dict[tuple[str, str], tuple[list[Any], list[Any]]] = defaultdict(lambda: ([], []))
    for raters in ratings.values():
        for first, second in combinations(sorted(raters), 2):
            left, right = common[(first, second)]
            left.append(raters[first])
            right.append(raters[second])
    rank = {value: position for position, value in enumerate(spec.domain)}
    result = []
    for (first, second), (left, right) in sorted(common.items()):
        if len(left) < min_items:
            continue
        result.append(
            {
                "field": spec.name,
                "annotators": [first, second],
                "kappa": kappa_value(
                    [rank[v] for v in left],
                    [rank[v] for v in right],
                    weights=spec.kappa_weights,
                    scale_size=len(spec.domain),
                ),
                "items": len(left),
            }
        )
    return result


def kappa_value(
    left: Sequence[int], right: Sequence[int], *, weights: str | None, scale_size: int
) -> float | None:
    """Cohen's κ of two raters' ranks over the whole scale (0…scale_size−1), so linear weights
    measure distance on the rubric's scale; None when undefined (chance agreement is total).

    statsmodels computes κ from the contingency table; it gives the same figure as
    scikit-learn's ``cohen_kappa_score`` (checked in the tests) at a fraction of the per-call
    cost, which matters with hundreds of annotator pairs.
    """
    table = np.zeros((scale_size, scale_size), dtype=np.float64)
    np.add.at(table, (np.asarray(left), np.asarray(right)), 1)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # 0/0 when both raters used one and the same value throughout: κ is undefined.
        warnings.simplefilter("ignore")
        value = float(cohens_kappa(table, wt=weights, return_results=False))
    return value if math.isfinite(value) else None


def agreement_report(
    *,
    campaign: Campaign,
    category: str | None = None,
    intent: str | None = None,
    reps: int = 1000,
    seed: int = 0,
    fields: Iterable[str] | None = None,
    kappa_min_items: int = 2,
) -> dict[str, Any]:
    """The agreement figures of a campaign, in the shape ``manage.py agreement --json`` prints:
    one key per field with ``alpha``, ``ci95``, ``items``, ``judgments``, plus ``kappa``."""
    ratings = collect_ratings(campaign=campaign, category=category, intent=intent)
    chosen = [FIELD_BY_NAME[name] for name in (fields or FIELD_BY_NAME)]
    report: dict[str, Any] = {}
    kappas: list[dict[str, Any]] = []
    for spec in chosen:
        report[spec.name] = field_alpha(spec, ratings[spec.name], reps=reps, seed=seed)
        kappas.extend(pairwise_kappa(spec, ratings[spec.name], min_items=kappa_min_items))
    report["kappa"] = kappas
    return report


def agreement_breakdown(*, campaign: Campaign, by: Literal["category", "intent"]) -> list[dict]:
    """α per field (no interval) for each category or intent of a campaign, from one read."""
    ratings = collect_ratings(campaign=campaign)
    column = "category_path" if by == "category" else "intent"
    candidate_group = dict(
        Candidate.objects.filter(prompt__campaign=campaign).values_list("id", f"prompt__{column}")
    )
    pair_group = dict(
        Pair.objects.filter(prompt__campaign=campaign).values_list("id", f"prompt__{column}")
    )
    groups = sorted(set(candidate_group.values()) | set(pair_group.values()))
    rows = []
    for group in groups:
        row: dict[str, Any] = {by: group}
        for spec in FIELDS:
            lookup = pair_group if spec.name == PREFERENCE_FIELD else candidate_group
            subset = {u: r for u, r in ratings[spec.name].items() if lookup.get(u) == group}
            counts = value_counts(spec, subset)
            row[spec.name] = {"alpha": alpha_from_counts(spec, counts), "items": counts.shape[0]}
        rows.append(row)
    return rows


def kappa_by_annotator(kappas: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean κ of each annotator with their peers, per field (None values left out)."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for entry in kappas:
        if entry["kappa"] is None:
            continue
        for name in entry["annotators"]:
            sums[name][entry["field"]].append(entry["kappa"])
    return {
        name: {field: float(np.mean(values)) for field, values in per_field.items()}
        for name, per_field in sums.items()
    }
