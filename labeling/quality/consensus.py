"""Consensus labels that model the raters, and the likely label errors they point at.

For each of response mode, severity (per candidate) and the preference's direction (per pair:
A better, tie, B better) a **Dawid–Skene** model learns each rater's confusion matrix and each
item's posterior over the values, by EM from the majority vote. An item's consensus is its most
probable value and its **quality** that probability; a rater's **reliability** is their
estimated accuracy, the diagonal of their confusion matrix weighted by the model's prior over
the values.

Why this model: ``crowd-kit``'s Dawid–Skene needs nothing but the labels (CROWDLAB in
``cleanlab.multiannotator`` needs a classifier's probabilities for every item, which only
graded items have). Its noisy Bradley–Terry computes the gradient one comparison at a time in
Python, too slow at 600k judgments, so the preference is modelled by the same Dawid–Skene over
its direction: a rater-reliability-weighted vote. The fit is crowd-kit's algorithm step for
step over integer codes and one sparse matrix (:mod:`labeling.quality.dawid_skene`): crowd-kit's
own pandas joins take about 4 s per EM iteration on a campaign of 600k judgments, this a tenth
of a second, with the same results (the tests compare the two).

Raters: every annotator (by username), the labels imported with candidates (``xstest:…``,
see :func:`labeling.quality.agreement.prior_raters`) and every grader version that graded the
campaign (``grader:<name> v<n>``; a pair's two orders count as one preference, their mean
truncated toward zero as calibration combines them). A rater's several values for one item
are reduced as agreement reduces them (:func:`labeling.quality.agreement.reduce_ratings`).

**Reading.** A campaign's labels are read in one query per source (judgments, imported labels,
candidate grades, pair grades), the rubric values turned into their rubric positions by the
database, and on PostgreSQL streamed with ``COPY`` into pandas' CSV reader: arrays of integers
from the start, never a Python object per label.

Only items with at least two raters are modelled; a field nobody rated, or where no item has
two raters, says so instead of giving numbers.

**Reviews feed back.** A reviewer's resolution fixes the item's label: the reviewed candidate's
mode and severity and the pair's preference direction are the model's known true labels
(``true_labels``), so the item's consensus is the reviewer's value with quality 1, and every
rater's reliability is re-estimated against it. A discarded pair leaves the preference model.

**Likely label errors.** A rater whose value differs from a consensus held with probability
≥ :data:`FLAG_CONFIDENCE`, or an item whose consensus quality is under :data:`LOW_QUALITY`,
flags the item's pair (a candidate's first pair). Each flagged pair ranks by its most telling
flag (a disagreement by the consensus' confidence, an uncertain item by how far its quality
falls under the bar, below every confident disagreement), and the :data:`REVIEW_FLAGS_MAX`
best ranked go to the review queue as a :class:`~labeling.models.ReviewRequest` with the reason
"likely label error", the evidence (rater, field, value, consensus, confidence) and the rank as
its score; the run's summary says how many flagged pairs were over that cap. Reviewed pairs
are not flagged again.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Case, IntegerField, JSONField, QuerySet, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from labeling.broker import BROKER_ERRORS, BrokerUnavailable
from labeling.database import is_postgresql
from labeling.models import (
    Campaign,
    Candidate,
    ConsensusRun,
    Grade,
    GraderVersion,
    Judgment,
    Pair,
    Review,
    ReviewRequest,
)
from policy.rubric import (
    CANONICAL_SIDES,
    PREFERENCE_FIELD,
    PREFERENCE_MIN,
    PREFERENCE_VALUES,
    RESPONSE_MODE_FIELD,
    RESPONSE_MODES,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    side_field,
)

from .agreement import FIELD_BY_NAME, Ratings, prior_ratings
from .dawid_skene import dawid_skene
from .review import review_requests_add
from .tasks import enqueue_consensus

# The preference's direction, the values its model works on.
A_BETTER, TIE, B_BETTER = "a", "tie", "b"
DIRECTIONS: tuple[str, ...] = (A_BETTER, TIE, B_BETTER)
FIELD_DOMAINS: dict[str, tuple[Any, ...]] = {
    RESPONSE_MODE_FIELD: tuple(str(mode) for mode in RESPONSE_MODES),
    SEVERITY_FIELD: tuple(str(level) for level in SEVERITY_LEVELS),
    PREFERENCE_FIELD: DIRECTIONS,
}
CONSENSUS_FIELDS: tuple[str, ...] = tuple(FIELD_DOMAINS)
SIDE_CONSENSUS_FIELDS: tuple[str, ...] = (RESPONSE_MODE_FIELD, SEVERITY_FIELD)
MIN_RATERS = 2
FLAG_CONFIDENCE = 0.9
"""A rater differing from a consensus at least this probable is a likely label error."""
LOW_QUALITY = 0.6
"""An item whose consensus is less probable than this is flagged as uncertain."""
REVIEW_FLAGS_MAX = 1000
"""At most this many flagged pairs go to the review queue per computation, the best ranked.
Labels that are mostly noise flag most items (random labels on 200k pairs flag 186k of them):
a queue that long is never worked through, while its most confident thousand are where a
reviewer's time finds the most errors. The rest wait for the next computation."""
EM_ITERATIONS = 20
EM_TOLERANCE = 1e-4
LIVE_JUDGMENTS_MAX = 5000
"""A campaign with at most this many judgments is modelled in the request that asks; a larger
one by a worker of the ``default`` queue."""
REVIEW_KEY = "consensus:likely-label-error"
REASON = "likely label error"
GRADER_PREFIX = "grader:"
DISAGREES, LOW_QUALITY_KIND = "disagrees", "low quality"
FLAG_COLUMNS: tuple[str, ...] = (
    "kind",
    "field",
    "item",
    "rater",
    "value",
    "consensus",
    "confidence",
)
"""The columns of a field's flags, one row per flag (the evidence a review request shows)."""


def direction(preference: float) -> str:
    """A preference's direction (canonical order: negative means A better)."""
    if preference < 0:
        return A_BETTER
    if preference > 0:
        return B_BETTER
    return TIE


# The direction's position in DIRECTIONS for each preference value, indexed from PREFERENCE_MIN.
_DIRECTION_CODES = np.asarray([DIRECTIONS.index(direction(value)) for value in PREFERENCE_VALUES])


def _direction_codes(preferences: np.ndarray) -> np.ndarray:
    """Directions (positions in DIRECTIONS) of preferences on the rubric's scale; the sign of
    a mean works too, as it stays on the scale."""
    return _DIRECTION_CODES[np.sign(preferences).astype(np.int64) - PREFERENCE_MIN]


@dataclass
class FieldConsensus:
    """One field's consensus: per item (value, quality, majority), per rater reliability, and
    the flags (a frame of :data:`FLAG_COLUMNS`)."""

    name: str
    problem: str | None = None
    items: int = 0
    single_rater_items: int = 0
    judgments: int = 0
    raters: dict[str, float] = field(default_factory=dict)
    rater_items: dict[str, int] = field(default_factory=dict)
    labels: dict[Any, tuple[Any, float, Any]] = field(default_factory=dict)
    agreement_with_majority: float | None = None
    differs_from_majority: int = 0
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(FLAG_COLUMNS)))

    def summary(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "items": self.items,
            "single_rater_items": self.single_rater_items,
            "judgments": self.judgments,
            "raters": [
                {"rater": name, "reliability": value, "items": self.rater_items.get(name, 0)}
                for name, value in sorted(self.raters.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "agreement_with_majority": self.agreement_with_majority,
            "differs_from_majority": self.differs_from_majority,
            "flagged": len(self.flags),
        }


@dataclass(frozen=True)
class LabelRows:
    """One field's labels, one row per (item, rater): ``values`` are positions in the field's
    domain (``FIELD_DOMAINS``), ``raters`` positions in ``rater_names``."""

    items: np.ndarray
    raters: np.ndarray
    values: np.ndarray
    rater_names: Sequence[str]

    def __len__(self) -> int:
        return int(self.items.size)

    def without_items(self, items: Iterable[Any]) -> LabelRows:
        keep = ~np.isin(self.items, np.fromiter(items, dtype=self.items.dtype))
        return LabelRows(self.items[keep], self.raters[keep], self.values[keep], self.rater_names)


def label_rows(name: str, ratings: Ratings) -> LabelRows:
    """A field's ratings (item -> rater -> value, values in the field's domain: directions for
    the preference) as label rows."""
    position = {value: index for index, value in enumerate(FIELD_DOMAINS[name])}
    items: list[Any] = []
    raters: list[str] = []
    values: list[int] = []
    for item, rated in ratings.items():
        for rater, value in rated.items():
            if value not in position:
                raise ValueError(f"{name}: {value!r} of {rater} on {item!r} is not in the rubric")
            items.append(item)
            raters.append(rater)
            values.append(position[value])
    rater_codes, rater_names = pd.factorize(pd.Series(raters, dtype=object), sort=True)
    return LabelRows(
        items=np.asarray(items) if items else np.empty(0, dtype=np.int64),
        raters=np.asarray(rater_codes, dtype=np.int64),
        values=np.asarray(values, dtype=np.int64),
        rater_names=[str(rater) for rater in rater_names],
    )


def reduce_rows(
    items: np.ndarray, raters: np.ndarray, values: np.ndarray, *, nominal: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One value per (item, rater), as :func:`~labeling.quality.agreement.reduce_ratings`
    reduces a rater's several values: the most frequent, ties to the first in the domain
    (``nominal``), or the lower median in domain order. ``raters`` and ``values`` are
    non-negative numbers (``values`` domain positions)."""
    if items.size == 0:
        return items, raters, values
    # One sort of one integer key (item, rater, value) instead of a sort over three columns.
    item_codes, item_ids = pd.factorize(items)
    n_raters, n_values = int(raters.max()) + 1, int(values.max()) + 1
    key = np.sort((item_codes * n_raters + raters) * n_values + values)
    rest, values = np.divmod(key, n_values)
    item_codes, raters = np.divmod(rest, n_raters)
    items = np.asarray(item_ids)[item_codes]
    starts = np.ones(key.size, dtype=bool)
    starts[1:] = rest[1:] != rest[:-1]
    if starts.all():
        return items, raters, values
    first = np.flatnonzero(starts)
    if not nominal:
        sizes = np.diff(np.append(first, key.size))
        return items[first], raters[first], values[first + (sizes - 1) // 2]
    # Runs of one value inside a group (sorted by value): the longest run, the lowest value
    # among equally long ones.
    run_first = np.flatnonzero(np.append(True, key[1:] != key[:-1]))
    run_sizes = np.diff(np.append(run_first, key.size))
    run_group = np.cumsum(starts)[run_first] - 1
    best = np.lexsort((values[run_first], -run_sizes, run_group))
    best_of_group = best[np.append(True, run_group[best][1:] != run_group[best][:-1])]
    return items[first], raters[first], values[run_first[best_of_group]]


def field_consensus(
    name: str, ratings: Ratings, *, true_labels: dict[Any, Any] | None = None
) -> FieldConsensus:
    """The consensus of one field from its ratings (item -> rater -> value, values in the
    field's domain: directions for the preference). See the module docstring."""
    return rows_consensus(name, label_rows(name, ratings), true_labels=true_labels)


def rows_consensus(
    name: str, rows: LabelRows, *, true_labels: dict[Any, Any] | None = None
) -> FieldConsensus:
    """The consensus of one field from its label rows (one per item and rater)."""
    domain = FIELD_DOMAINS[name]
    result = FieldConsensus(name=name)
    if not len(rows):
        result.problem = f"nobody rated {name}: there is nothing to model"
        return result
    item_codes, units = pd.factorize(rows.items, sort=True)
    per_item = np.bincount(item_codes)
    modelled = per_item >= MIN_RATERS
    result.single_rater_items = int((~modelled).sum())
    if not modelled.any():
        result.problem = (
            f"{name}: every item has fewer than {MIN_RATERS} raters "
            f"({len(units)} items, one rater each); a consensus model needs at least "
            f"{MIN_RATERS} raters per item"
        )
        return result
    keep = modelled[item_codes]
    item_codes = (np.cumsum(modelled) - 1)[item_codes[keep]]
    units = np.asarray(units)[modelled]
    rater_codes, rater_index = pd.factorize(rows.raters[keep], sort=True)
    rater_names = np.asarray(rows.rater_names, dtype=object)[rater_index]
    values = rows.values[keep]
    # The model numbers the values in their sorted order, as crowd-kit's columns are: a tie
    # between two values goes to the same one.
    sorted_position = np.argsort(np.argsort(np.asarray(domain, dtype=str)))
    domain_of_sorted = np.argsort(sorted_position)
    truth = np.full(units.size, -1, dtype=np.int64)
    position = {value: index for index, value in enumerate(domain)}
    if true_labels:
        known_values = pd.Series(true_labels, dtype=object).reindex(units)
        for index in np.flatnonzero(known_values.notna().to_numpy()):
            value = known_values.iloc[index]
            if value in position:
                truth[index] = sorted_position[position[value]]
    known = truth >= 0
    fit = dawid_skene(
        item_codes,
        rater_codes,
        sorted_position[values],
        n_items=units.size,
        n_raters=rater_names.size,
        true_labels=truth,
        n_iter=EM_ITERATIONS,
        tol=EM_TOLERANCE,
    )
    consensus = domain_of_sorted[fit.labels[fit.probas.argmax(axis=1)]]
    quality = fit.probas.max(axis=1)
    quality[known] = 1.0
    majority = (
        np.bincount(item_codes * len(domain) + values, minlength=units.size * len(domain))
        .reshape(units.size, len(domain))
        .argmax(axis=1)
    )
    domain_values = np.asarray(domain, dtype=object)
    result.items = int(units.size)
    result.judgments = int(values.size)
    result.raters = dict(zip(rater_names.tolist(), fit.reliability().tolist(), strict=True))
    result.rater_items = dict(
        zip(rater_names.tolist(), np.bincount(rater_codes).tolist(), strict=True)
    )
    result.labels = dict(
        zip(
            units.tolist(),
            zip(
                domain_values[consensus].tolist(),
                np.round(quality, 6).tolist(),
                domain_values[majority].tolist(),
                strict=True,
            ),
            strict=True,
        )
    )
    same = int((consensus == majority).sum())
    result.agreement_with_majority = same / units.size
    result.differs_from_majority = int(units.size) - same
    result.flags = _field_flags(
        name, units, item_codes, rater_codes, rater_names, values, consensus, quality, known
    )
    return result


def _field_flags(
    name: str,
    units: np.ndarray,
    item_codes: np.ndarray,
    rater_codes: np.ndarray,
    rater_names: np.ndarray,
    values: np.ndarray,
    consensus: np.ndarray,
    quality: np.ndarray,
    known: np.ndarray,
) -> pd.DataFrame:
    """A rater differing from a confident consensus, and every uncertain item, as flag rows
    ordered by item, disagreements (by rater) before the item's uncertainty. Items a reviewer
    resolved have nothing left to flag."""
    domain_values = np.asarray(FIELD_DOMAINS[name], dtype=object)
    differs = (
        ~known[item_codes]
        & (quality[item_codes] >= FLAG_CONFIDENCE)
        & (values != consensus[item_codes])
    )
    rows = np.flatnonzero(differs)
    rows = rows[np.lexsort((rater_names[rater_codes[rows]].astype(str), item_codes[rows]))]
    uncertain = np.flatnonzero(~known & (quality < LOW_QUALITY))
    flagged = np.concatenate([item_codes[rows], uncertain])
    flags = pd.DataFrame(
        {
            "kind": np.repeat(
                np.asarray([DISAGREES, LOW_QUALITY_KIND]), [rows.size, uncertain.size]
            ),
            "field": name,
            "item": units[flagged],
            "rater": np.concatenate(
                [rater_names[rater_codes[rows]], np.full(uncertain.size, None, dtype=object)]
            ),
            "value": np.concatenate(
                [domain_values[values[rows]], np.full(uncertain.size, None, dtype=object)]
            ),
            "consensus": domain_values[consensus[flagged]],
            "confidence": np.round(quality[flagged], 4),
        },
        columns=list(FLAG_COLUMNS),
    )
    return flags.take(np.argsort(flagged, kind="stable")).reset_index(drop=True)


def _positions(column: str, domain: Sequence[str]) -> Case:
    """A text column as its value's position in ``domain``, −1 for a value outside it."""
    return Case(
        *[When(**{column: value}, then=Value(index)) for index, value in enumerate(domain)],
        default=Value(-1),
        output_field=IntegerField(),
    )


def read_integers(queryset: QuerySet[Any], columns: Sequence[str]) -> pd.DataFrame:
    """A ``values_list`` query of integer columns as a frame: on PostgreSQL one ``COPY`` of its
    rows into pandas' CSV reader (no Python object per value), elsewhere ``fetchall``."""
    sql, params = queryset.query.sql_with_params()
    rows: list[Any] = []
    with connection.cursor() as cursor:
        if is_postgresql():
            buffer = io.BytesIO()
            # The ORM's own statement, every value in it a parameter.
            statement = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
            with cursor.cursor.copy(statement, params) as copy:
                for block in copy:
                    buffer.write(block)
            if buffer.tell():
                buffer.seek(0)
                return pd.read_csv(buffer, header=None, names=list(columns), dtype=np.int64)
        else:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    return pd.DataFrame(
        np.asarray(rows, dtype=np.int64).reshape(-1, len(columns)), columns=list(columns)
    )


JUDGMENT_LABEL_COLUMNS: tuple[str, ...] = (
    "annotator",
    "pair",
    "candidate_a",
    "candidate_b",
    *(side_field(side, name) for side in CANONICAL_SIDES for name in SIDE_CONSENSUS_FIELDS),
    PREFERENCE_FIELD,
)


def read_judgment_labels(campaign: Campaign) -> pd.DataFrame:
    """Every judgment of the campaign as a row of integers (:data:`JUDGMENT_LABEL_COLUMNS`):
    annotator and pair ids, the pair's candidates, each side's response mode and severity as
    positions in ``FIELD_DOMAINS`` and the preference. One query, one ``COPY``."""
    sides = [
        _positions(side_field(side, name), FIELD_DOMAINS[name])
        for side in CANONICAL_SIDES
        for name in SIDE_CONSENSUS_FIELDS
    ]
    queryset = (
        Judgment.objects.filter(pair__campaign=campaign)
        .order_by()
        .values_list(
            "annotator_id",
            "pair_id",
            "pair__candidate_a_id",
            "pair__candidate_b_id",
            *sides,
            PREFERENCE_FIELD,
        )
    )
    return read_integers(queryset, JUDGMENT_LABEL_COLUMNS)


class RaterNames:
    """The raters of one campaign, each numbered once whatever field or source names them."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._numbers: dict[str, int] = {}

    def number(self, name: str) -> int:
        found = self._numbers.get(name)
        if found is None:
            found = self._numbers[name] = len(self.names)
            self.names.append(name)
        return found

    def numbers(self, names: Iterable[str]) -> np.ndarray:
        return np.asarray([self.number(name) for name in names], dtype=np.int64)


@dataclass
class _FieldRows:
    """One field's rows as they are gathered, before a rater's several values are reduced."""

    items: list[np.ndarray] = field(default_factory=list)
    raters: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def add(self, items: Any, raters: Any, values: Any) -> None:
        self.items.append(np.asarray(items, dtype=np.int64))
        self.raters.append(np.asarray(raters, dtype=np.int64))
        self.values.append(np.asarray(values, dtype=np.int64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def joined(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

        items, raters, values = joined(self.items), joined(self.raters), joined(self.values)
        inside = values >= 0  # a stored value the rubric no longer has is left out
        return items[inside], raters[inside], values[inside]


def _annotator_numbers(annotator_ids: np.ndarray, raters: RaterNames) -> np.ndarray:
    """Each row's annotator (a user id) as a rater number, by username."""
    ids = np.unique(annotator_ids)
    usernames = dict(
        get_user_model().objects.filter(pk__in=ids.tolist()).values_list("pk", "username")
    )
    numbers = raters.numbers(str(usernames[user_id]) for user_id in ids.tolist())
    return numbers[np.searchsorted(ids, annotator_ids)]


def _lookup(mapping: dict[int, int], keys: np.ndarray) -> np.ndarray:
    """``mapping[key]`` for every key (each one in ``mapping``)."""
    known = np.fromiter(mapping, dtype=np.int64, count=len(mapping))
    order = np.argsort(known)
    numbers = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))[order]
    return numbers[np.searchsorted(known[order], keys)]


def _grader_numbers(version_ids: np.ndarray, raters: RaterNames) -> dict[int, int]:
    """Grader version id -> rater number, named ``grader:<name> v<n>``."""
    versions = GraderVersion.objects.filter(pk__in=np.unique(version_ids).tolist())
    return {
        pk: raters.number(f"{GRADER_PREFIX}{name} v{number}")
        for pk, name, number in versions.values_list("pk", "grader__name", "number")
    }


def campaign_label_rows(campaign: Campaign) -> dict[str, LabelRows]:
    """Every rater's value per field and item of a campaign (one row per item and rater,
    preferences as directions): judgments, imported labels and grades."""
    judgments = read_judgment_labels(campaign)
    candidate_grades = read_integers(
        Grade.objects.filter(kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign=campaign)
        .order_by()
        .values_list(
            "grader_version_id",
            "candidate_id",
            *(_positions(name, FIELD_DOMAINS[name]) for name in SIDE_CONSENSUS_FIELDS),
        ),
        ("version", "candidate", *SIDE_CONSENSUS_FIELDS),
    )
    pair_grades = read_integers(
        Grade.objects.filter(kind=Grade.Kind.PAIR, pair__campaign=campaign)
        .order_by()
        .values_list("grader_version_id", "pair_id", PREFERENCE_FIELD),
        ("version", "pair", PREFERENCE_FIELD),
    )
    raters = RaterNames()
    annotators = _annotator_numbers(judgments["annotator"].to_numpy(), raters)
    graders = _grader_numbers(
        np.concatenate([candidate_grades["version"], pair_grades["version"]]), raters
    )
    gathered = {name: _FieldRows() for name in SIDE_CONSENSUS_FIELDS}
    for name in SIDE_CONSENSUS_FIELDS:
        for side in CANONICAL_SIDES:
            gathered[name].add(
                judgments[f"candidate_{side}"], annotators, judgments[side_field(side, name)]
            )
    imported = Candidate.objects.filter(prompt__campaign=campaign).exclude(prior_labels={})
    found: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for candidate_id, labels in imported.values_list("id", "prior_labels").iterator(5000):
        for rater, name, value in prior_ratings(labels):
            if name in gathered and value in FIELD_DOMAINS[name]:
                position = FIELD_DOMAINS[name].index(value)
                found[name].append((candidate_id, raters.number(rater), position))
    for name, triples in found.items():
        gathered[name].add(*np.asarray(triples, dtype=np.int64).T)
    result: dict[str, LabelRows] = {}
    for name in SIDE_CONSENSUS_FIELDS:
        items, numbers, values = reduce_rows(
            *gathered[name].arrays(), nominal=FIELD_BY_NAME[name].level == "nominal"
        )
        # One grade per version and candidate (grade_unique_candidate): nothing to reduce.
        rows = _FieldRows()
        rows.add(items, numbers, values)
        if len(candidate_grades):
            rows.add(
                candidate_grades["candidate"],
                _lookup(graders, candidate_grades["version"].to_numpy()),
                candidate_grades[name],
            )
        result[name] = LabelRows(*rows.arrays(), raters.names)
    # One judgment per pair and annotator (judgment_unique): nothing to reduce either.
    preference = _FieldRows()
    preference.add(
        judgments["pair"], annotators, _direction_codes(judgments[PREFERENCE_FIELD].to_numpy())
    )
    if len(pair_grades):
        # A pair's two orders are one preference: their mean, truncated toward zero.
        combined = pair_grades.groupby(["version", "pair"], sort=False)[PREFERENCE_FIELD].mean()
        preference.add(
            combined.index.get_level_values("pair"),
            _lookup(graders, combined.index.get_level_values("version").to_numpy()),
            _direction_codes(np.trunc(combined.to_numpy())),
        )
    result[PREFERENCE_FIELD] = LabelRows(*preference.arrays(), raters.names)
    return result


def reviewed_labels(campaign: Campaign) -> tuple[dict[str, dict[Any, Any]], set[int]]:
    """The reviewers' resolutions as known true labels per field, and the discarded pairs."""
    truth: dict[str, dict[Any, Any]] = {name: {} for name in CONSENSUS_FIELDS}
    discarded: set[int] = set()
    reviews = Review.objects.filter(pair__campaign=campaign).values_list(
        "pair_id",
        "pair__candidate_a_id",
        "pair__candidate_b_id",
        "resolution",
        "final_labels",
    )
    for pair_id, a_id, b_id, resolution, labels in reviews:
        if resolution == Review.Resolution.DISCARD:
            discarded.add(pair_id)
            continue
        labels = labels or {}
        for side, candidate_id in zip(CANONICAL_SIDES, (a_id, b_id), strict=True):
            values = labels.get(side) or {}
            for name in SIDE_CONSENSUS_FIELDS:
                if values.get(name) is not None:
                    truth[name][candidate_id] = values[name]
        if labels.get(PREFERENCE_FIELD) is not None:
            truth[PREFERENCE_FIELD][pair_id] = direction(labels[PREFERENCE_FIELD])
    return truth, discarded


def campaign_consensus(campaign: Campaign) -> dict[str, FieldConsensus]:
    """Each field's consensus for a campaign, reviews fed back (see the module docstring)."""
    rows = campaign_label_rows(campaign)
    truth, discarded = reviewed_labels(campaign)
    if discarded:
        rows[PREFERENCE_FIELD] = rows[PREFERENCE_FIELD].without_items(discarded)
    return {
        name: rows_consensus(name, rows[name], true_labels=truth[name]) for name in CONSENSUS_FIELDS
    }


def _first_pairs(campaign: Campaign) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each candidate of the campaign's pairs (ascending), its first pair (the lowest id) and
    its side there (0 for A, 1 for B)."""
    pairs = read_integers(
        Pair.objects.filter(campaign=campaign)
        .order_by()
        .values_list("id", "candidate_a_id", "candidate_b_id"),
        ("pair", "a", "b"),
    )
    candidates = np.concatenate([pairs["a"], pairs["b"]])
    pair_ids = np.concatenate([pairs["pair"], pairs["pair"]])
    sides = np.repeat([0, 1], len(pairs))
    order = np.lexsort((pair_ids, candidates))
    candidates, pair_ids, sides = candidates[order], pair_ids[order], sides[order]
    first = np.append(True, candidates[1:] != candidates[:-1])
    return candidates[first], pair_ids[first], sides[first]


def flagged_pairs(
    campaign: Campaign, results: dict[str, FieldConsensus]
) -> tuple[pd.DataFrame, pd.Series]:
    """Every flag with the pair it sends to review (``pair``; ``side`` for a candidate's), and
    each flagged pair's rank, best first (ties by pair id). Reviewed pairs are left out."""
    frames = [result.flags for result in results.values() if len(result.flags)]
    if not frames:
        return pd.DataFrame(columns=[*FLAG_COLUMNS, "pair", "side"]), pd.Series(dtype=float)
    flags = pd.concat(frames, ignore_index=True)
    items = flags["item"].to_numpy()
    on_pairs = (flags["field"] == PREFERENCE_FIELD).to_numpy()
    pair = np.full(len(flags), -1, dtype=np.int64)
    side = np.full(len(flags), None, dtype=object)
    pair[on_pairs] = items[on_pairs]
    if not on_pairs.all():
        candidates, first_pairs, sides = _first_pairs(campaign)
        flagged = items[~on_pairs].astype(np.int64)
        at = np.searchsorted(candidates, flagged)
        found = np.zeros(flagged.size, dtype=bool)
        inside = at < candidates.size
        found[inside] = candidates[at[inside]] == flagged[inside]
        rows = np.flatnonzero(~on_pairs)[found]
        pair[rows] = first_pairs[at[found]]
        side[rows] = np.asarray(["A", "B"], dtype=object)[sides[at[found]]]
    flags = flags.assign(pair=pair, side=side)
    reviewed = Review.objects.filter(pair__campaign=campaign).values_list("pair_id", flat=True)
    flags = flags[(flags["pair"] >= 0) & ~flags["pair"].isin(list(reviewed))]
    confidence = flags["confidence"].to_numpy(dtype=np.float64)
    rank = pd.Series(
        np.where(flags["kind"] == DISAGREES, confidence, 0.5 * (1 - confidence)),
        index=flags["pair"].to_numpy(),
    )
    ranks = rank.groupby(level=0).max()
    order = np.lexsort((ranks.index.to_numpy(), -ranks.to_numpy()))
    return flags.reset_index(drop=True), ranks.iloc[order]


def flags_to_review(campaign: Campaign, results: dict[str, FieldConsensus]) -> dict[str, Any]:
    """Send the :data:`REVIEW_FLAGS_MAX` best ranked flagged pairs to the review queue, one
    request per pair with every flag about it as evidence (most confident first) and its rank
    as the score. Returns how many pairs were flagged, sent, over the cap and added."""
    flags, ranks = flagged_pairs(campaign, results)
    chosen = ranks.iloc[:REVIEW_FLAGS_MAX]
    flags = flags[flags["pair"].isin(chosen.index)]
    flags = flags.iloc[np.lexsort((-flags["confidence"].to_numpy(), flags["pair"].to_numpy()))]
    by_pair: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in flags.to_dict("records"):
        pair_id, side = int(record.pop("pair")), record.pop("side")
        if record["field"] == PREFERENCE_FIELD:
            record["pair"] = pair_id
        else:
            record["candidate"], record["side"] = record["item"], side
        by_pair[pair_id].append(record)
    added = review_requests_add(
        reasons={
            pair_id: f"{REASON}: " + "; ".join(describe_flag(flag) for flag in found)
            for pair_id, found in by_pair.items()
        },
        key=REVIEW_KEY,
        source=ReviewRequest.Source.CONSENSUS,
        scores={int(pair_id): float(rank) for pair_id, rank in chosen.items()},
        evidence={pair_id: {"flags": found} for pair_id, found in by_pair.items()},
    )
    return {
        "flagged_pairs": len(ranks),
        "sent": len(chosen),
        "over_cap": len(ranks) - len(chosen),
        "cap": REVIEW_FLAGS_MAX,
        "added": len(added),
    }


def describe_flag(flag: dict[str, Any]) -> str:
    """One flag in words, as the review queue shows it."""
    what = (
        f"preference of pair {flag['item']}"
        if flag["field"] == PREFERENCE_FIELD
        else f"{flag['field'].replace('_', ' ')} of candidate {flag['item']}"
        + (f" ({flag['side']})" if flag.get("side") else "")
    )
    if flag["kind"] == DISAGREES:
        return (
            f"{what}: {flag['rater']} said {flag['value']!r}, consensus {flag['consensus']!r} "
            f"at {flag['confidence']:.2f}"
        )
    return f"{what}: uncertain consensus {flag['consensus']!r} at {flag['confidence']:.2f}"


def stored_labels(results: dict[str, FieldConsensus]) -> str:
    """The labels of every field as the JSON a run stores: field -> {item id: [consensus,
    quality, majority]}. orjson writes the half a million items of a 600k-judgment campaign in
    a tenth of the time the standard library takes."""
    return orjson.dumps(
        {name: result.labels for name, result in results.items()},
        option=orjson.OPT_NON_STR_KEYS,
    ).decode()


def consensus_store(
    run: ConsensusRun,
    results: dict[str, FieldConsensus],
    seconds: float,
    *,
    review: dict[str, Any] | None = None,
) -> None:
    """Write a computation's figures and labels on its run. The labels are written as JSON in
    one statement of their own: ``run`` should hold them deferred (as it is loaded to compute)."""
    run.summary = {name: result.summary() for name, result in results.items()}
    if review is not None:
        run.summary["review"] = review
    run.status = ConsensusRun.Status.DONE
    run.computed_at = timezone.now()
    run.compute_seconds = round(seconds, 3)
    run.error = ""
    run.save(update_fields=["summary", "status", "computed_at", "compute_seconds", "error"])
    ConsensusRun.objects.filter(pk=run.pk).update(
        labels=Cast(Value(stored_labels(results)), output_field=JSONField())
    )


def consensus_run_execute(*, run_id: int) -> ConsensusRun | None:
    """Compute a queued run (the worker's task, or the request for a small campaign): claim it,
    model every field, send the likely errors to review, store. A run already taken is left."""
    claimed = ConsensusRun.objects.filter(
        pk=run_id, status__in=(ConsensusRun.Status.QUEUED,)
    ).update(status=ConsensusRun.Status.RUNNING)
    run = ConsensusRun.objects.select_related("campaign").defer("labels").filter(pk=run_id).first()
    if not claimed or run is None:
        return run
    started = time.perf_counter()
    try:
        results = campaign_consensus(run.campaign)
        seconds = time.perf_counter() - started
        with transaction.atomic():
            sent = flags_to_review(run.campaign, results)
            consensus_store(run, results, seconds, review=sent)
    except Exception as error:
        run.status = ConsensusRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
        run.save(update_fields=["status", "error"])
        raise
    return run


def consensus_request(*, campaign: Campaign, user: Any = None) -> ConsensusRun:
    """Ask for a campaign's consensus: computed now for a small campaign, else by a worker
    (a run already queued or running is returned instead of a second one).

    Raises BrokerUnavailable when the broker cannot take the worker's job; the run is removed
    again, so nothing is left behind."""
    pending = ConsensusRun.objects.filter(
        campaign=campaign, status__in=(ConsensusRun.Status.QUEUED, ConsensusRun.Status.RUNNING)
    ).first()
    if pending is not None:
        return pending
    requested_by = user if user is not None and user.is_authenticated else None
    if Judgment.objects.filter(pair__campaign=campaign).count() <= LIVE_JUDGMENTS_MAX:
        run = ConsensusRun.objects.create(campaign=campaign, requested_by=requested_by)
        return consensus_run_execute(run_id=run.pk) or run
    created: list[ConsensusRun] = []
    try:
        with transaction.atomic():
            run = ConsensusRun.objects.create(campaign=campaign, requested_by=requested_by)
            created.append(run)
            run_id = run.pk
            transaction.on_commit(lambda: enqueue_consensus(run_id))
    except BROKER_ERRORS as error:
        # A queued run no worker will ever hear of would block every later request.
        ConsensusRun.objects.filter(pk__in=[done.pk for done in created]).delete()
        raise BrokerUnavailable() from error
    return run


def latest_consensus(campaign: Campaign, *, with_labels: bool = False) -> ConsensusRun | None:
    """The campaign's newest finished consensus run (its labels only when asked for)."""
    runs = ConsensusRun.objects.filter(campaign=campaign, status=ConsensusRun.Status.DONE)
    if not with_labels:
        runs = runs.defer("labels")
    return runs.order_by("-computed_at", "-id").first()


def pending_consensus(campaign: Campaign) -> ConsensusRun | None:
    return (
        ConsensusRun.objects.filter(
            campaign=campaign,
            status__in=(ConsensusRun.Status.QUEUED, ConsensusRun.Status.RUNNING),
        )
        .defer("labels")
        .first()
    )


def rater_reliabilities(run: ConsensusRun | None) -> dict[str, dict[str, float]]:
    """rater -> field -> reliability, from a run's summary."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    if run is None:
        return {}
    for name in CONSENSUS_FIELDS:
        for row in (run.summary.get(name) or {}).get("raters", []):
            found[row["rater"]][name] = row["reliability"]
    return dict(found)
