"""Consensus labels that model the raters, and the likely label errors they point at.

For each of response mode, severity (per candidate) and the preference's direction (per pair:
A better, tie, B better) a **Dawid–Skene** model (``crowd-kit``'s ``DawidSkene``) learns each
rater's confusion matrix and each item's posterior over the values, by EM from the
majority vote. An item's consensus is its most probable value and its **quality** that
probability; a rater's **reliability** is their estimated accuracy, the diagonal of their
confusion matrix weighted by the model's prior over the values.

Why this library and model: ``crowd-kit``'s Dawid–Skene needs nothing but the labels (CROWDLAB
in ``cleanlab.multiannotator`` needs a classifier's probabilities for every item, which only
graded items have), and it is vectorised over pandas, so a campaign of 600k judgments is
modelled within seconds. Its noisy Bradley–Terry computes the gradient one comparison at a
time in Python, too slow at that size, so the preference is modelled by the same Dawid–Skene
over its direction: a rater-reliability-weighted vote of the same library.

Raters: every annotator (by username), the labels imported with candidates (``xstest:…``,
see :func:`labeling.quality.agreement.prior_raters`) and every grader version that graded the
campaign (``grader:<name> v<n>``; a pair's two orders count as one preference, their mean
truncated toward zero as calibration combines them). A rater's several values for one item
are reduced as agreement reduces them.

Only items with at least two raters are modelled; a field nobody rated, or where no item has
two raters, says so instead of giving numbers.

**Reviews feed back.** A reviewer's resolution fixes the item's label: the reviewed candidate's
mode and severity and the pair's preference direction are the model's known true labels
(``true_labels``), so the item's consensus is the reviewer's value with quality 1, and every
rater's reliability is re-estimated against it. A discarded pair leaves the preference model.

**Likely label errors.** A rater whose value differs from a consensus held with probability
≥ :data:`FLAG_CONFIDENCE`, or an item whose consensus quality is under :data:`LOW_QUALITY`,
sends the item's pair (a candidate's first pair) to the review queue as a
:class:`~labeling.models.ReviewRequest` with the reason "likely label error", the evidence
(rater, field, value, consensus, confidence) and the confidence as its rank. Reviewed pairs are
not flagged again.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene
from django.db import transaction
from django.utils import timezone

from labeling.models import (
    Campaign,
    ConsensusRun,
    Grade,
    Judgment,
    Pair,
    Review,
    ReviewRequest,
)
from policy.rubric import (
    CANONICAL_SIDES,
    PREFERENCE_FIELD,
    RESPONSE_MODE_FIELD,
    RESPONSE_MODES,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
)

from .agreement import Ratings, collect_ratings
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
MIN_RATERS = 2
FLAG_CONFIDENCE = 0.9
"""A rater differing from a consensus at least this probable is a likely label error."""
LOW_QUALITY = 0.6
"""An item whose consensus is less probable than this is flagged as uncertain."""
EM_ITERATIONS = 20
EM_TOLERANCE = 1e-4
LIVE_JUDGMENTS_MAX = 5000
"""A campaign with at most this many judgments is modelled in the request that asks; a larger
one by a worker of the ``default`` queue."""
REVIEW_KEY = "consensus:likely-label-error"
REASON = "likely label error"
GRADER_PREFIX = "grader:"


def direction(preference: float) -> str:
    """A preference's direction (canonical order: negative means A better)."""
    if preference < 0:
        return A_BETTER
    if preference > 0:
        return B_BETTER
    return TIE


@dataclass
class FieldConsensus:
    """One field's consensus: per item (value, quality, majority) and per rater reliability."""

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
    flags: list[dict[str, Any]] = field(default_factory=list)

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


def majority_vote(values: list[Any], domain: tuple[Any, ...]) -> Any:
    """The most frequent value; a tie goes to the value listed first in the rubric."""
    counts = Counter(values)
    best = max(counts.values())
    return next(value for value in domain if counts.get(value) == best)


def dawid_skene(
    frame: pd.DataFrame, *, true_labels: pd.Series | None = None
) -> tuple[DawidSkene, pd.Series]:
    """Fit crowd-kit's Dawid–Skene on ``task, worker, label`` rows; return it and each
    worker's reliability (accuracy under the model's prior over the values)."""
    model = DawidSkene(n_iter=EM_ITERATIONS, tol=EM_TOLERANCE)
    model.fit(frame, true_labels=true_labels)
    return model, rater_reliability(model)


def rater_reliability(model: DawidSkene) -> pd.Series:
    """Σ_c prior(c) · P(rater says c | truth c) for each rater of a fitted model."""
    errors = model.errors_
    priors = model.priors_
    assert errors is not None and priors is not None
    observed = errors.index.get_level_values(1)
    columns = list(errors.columns)
    position = {value: index for index, value in enumerate(columns)}
    keep = np.asarray([value in position for value in observed])
    matrix = errors.to_numpy()[keep]
    diagonal = matrix[np.arange(matrix.shape[0]), [position[v] for v in observed[keep]]]
    weights = priors.reindex(observed[keep]).to_numpy()
    workers = errors.index.get_level_values(0)[keep]
    return pd.Series(diagonal * weights, index=workers).groupby(level=0).sum()


def field_consensus(
    name: str, ratings: Ratings, *, true_labels: dict[Any, Any] | None = None
) -> FieldConsensus:
    """The consensus of one field from its ratings (unit -> rater -> value, values already in
    the field's domain: directions for the preference). See the module docstring."""
    domain = FIELD_DOMAINS[name]
    result = FieldConsensus(name=name)
    if not ratings:
        result.problem = f"nobody rated {name}: there is nothing to model"
        return result
    modelled = {unit: raters for unit, raters in ratings.items() if len(raters) >= MIN_RATERS}
    result.single_rater_items = len(ratings) - len(modelled)
    if not modelled:
        result.problem = (
            f"{name}: every item has fewer than {MIN_RATERS} raters "
            f"({len(ratings)} items, one rater each); a consensus model needs at least "
            f"{MIN_RATERS} raters per item"
        )
        return result
    tasks: list[Any] = []
    workers: list[str] = []
    values: list[Any] = []
    for unit, raters in modelled.items():
        for rater, value in raters.items():
            tasks.append(unit)
            workers.append(rater)
            values.append(value)
    frame = pd.DataFrame({"task": tasks, "worker": workers, "label": values})
    known = {unit: value for unit, value in (true_labels or {}).items() if unit in modelled}
    truth = pd.Series(known, dtype=object) if known else None
    if truth is not None:
        truth.index.name = "task"
    model, reliability = dawid_skene(frame, true_labels=truth)
    probas = model.probas_
    assert probas is not None
    best = probas.to_numpy().argmax(axis=1)
    quality = probas.to_numpy().max(axis=1)
    columns = list(probas.columns)
    result.items = len(modelled)
    result.judgments = len(frame)
    result.raters = {str(rater): float(value) for rater, value in reliability.items()}
    result.rater_items = {str(k): int(v) for k, v in frame["worker"].value_counts().items()}
    same = 0
    for unit, index, confidence in zip(probas.index, best, quality, strict=True):
        consensus = columns[index]
        raters = modelled[unit]
        majority = majority_vote(list(raters.values()), domain)
        confidence = 1.0 if unit in known else float(confidence)
        result.labels[unit] = (consensus, round(confidence, 6), majority)
        if consensus == majority:
            same += 1
        if unit in known:
            continue  # resolved by a reviewer: nothing left to flag
        for rater, value in sorted(raters.items()):
            if value != consensus and confidence >= FLAG_CONFIDENCE:
                result.flags.append(
                    {
                        "kind": "disagrees",
                        "field": name,
                        "item": unit,
                        "rater": rater,
                        "value": value,
                        "consensus": consensus,
                        "confidence": round(confidence, 4),
                    }
                )
        if confidence < LOW_QUALITY:
            result.flags.append(
                {
                    "kind": "low quality",
                    "field": name,
                    "item": unit,
                    "rater": None,
                    "value": None,
                    "consensus": consensus,
                    "confidence": round(confidence, 4),
                }
            )
    result.agreement_with_majority = same / len(modelled)
    result.differs_from_majority = len(modelled) - same
    return result


def _grader_ratings(campaign: Campaign, ratings: dict[str, Ratings]) -> None:
    """Add every grader version that graded the campaign as a rater."""
    candidate_grades = Grade.objects.filter(
        kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign=campaign
    ).values_list(
        "grader_version__grader__name",
        "grader_version__number",
        "candidate_id",
        RESPONSE_MODE_FIELD,
        SEVERITY_FIELD,
    )
    for grader, number, candidate_id, mode, severity in candidate_grades.iterator(5000):
        rater = f"{GRADER_PREFIX}{grader} v{number}"
        ratings[RESPONSE_MODE_FIELD].setdefault(candidate_id, {})[rater] = mode
        ratings[SEVERITY_FIELD].setdefault(candidate_id, {})[rater] = severity
    preferences: dict[tuple[str, int], list[int]] = defaultdict(list)
    pair_grades = Grade.objects.filter(kind=Grade.Kind.PAIR, pair__campaign=campaign).values_list(
        "grader_version__grader__name", "grader_version__number", "pair_id", PREFERENCE_FIELD
    )
    for grader, number, pair_id, preference in pair_grades.iterator(5000):
        preferences[(f"{GRADER_PREFIX}{grader} v{number}", pair_id)].append(preference)
    for (rater, pair_id), both in preferences.items():
        combined = math.trunc(sum(both) / len(both))
        ratings[PREFERENCE_FIELD].setdefault(pair_id, {})[rater] = direction(combined)


def campaign_ratings(campaign: Campaign) -> dict[str, Ratings]:
    """Every rater's value per field and item of a campaign, preferences as directions."""
    collected = collect_ratings(campaign=campaign)
    ratings: dict[str, Ratings] = {
        RESPONSE_MODE_FIELD: collected[RESPONSE_MODE_FIELD],
        SEVERITY_FIELD: collected[SEVERITY_FIELD],
        PREFERENCE_FIELD: {
            pair_id: {rater: direction(value) for rater, value in raters.items()}
            for pair_id, raters in collected[PREFERENCE_FIELD].items()
        },
    }
    _grader_ratings(campaign, ratings)
    return ratings


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
            for name in (RESPONSE_MODE_FIELD, SEVERITY_FIELD):
                if values.get(name) is not None:
                    truth[name][candidate_id] = values[name]
        if labels.get(PREFERENCE_FIELD) is not None:
            truth[PREFERENCE_FIELD][pair_id] = direction(labels[PREFERENCE_FIELD])
    return truth, discarded


def campaign_consensus(campaign: Campaign) -> dict[str, FieldConsensus]:
    """Each field's consensus for a campaign, reviews fed back (see the module docstring)."""
    ratings = campaign_ratings(campaign)
    truth, discarded = reviewed_labels(campaign)
    for pair_id in discarded:
        ratings[PREFERENCE_FIELD].pop(pair_id, None)
    return {
        name: field_consensus(name, ratings[name], true_labels=truth[name])
        for name in CONSENSUS_FIELDS
    }


def _side_of(pair: tuple[int, int, int], candidate_id: int) -> str:
    return "A" if pair[1] == candidate_id else "B"


def flags_to_review(campaign: Campaign, results: dict[str, FieldConsensus]) -> dict[str, Any]:
    """Send the likely label errors to the review queue, one request per pair with every flag
    about it as evidence, ranked by the highest confidence. Returns what was sent."""
    flags = [flag for result in results.values() for flag in result.flags]
    candidate_ids = {flag["item"] for flag in flags if flag["field"] != PREFERENCE_FIELD}
    first_pair: dict[int, tuple[int, int, int]] = {}
    if candidate_ids:
        pairs = (
            Pair.objects.filter(campaign=campaign)
            .values_list("id", "candidate_a_id", "candidate_b_id")
            .order_by("id")
        )
        for row in pairs.iterator(5000):
            for candidate_id in row[1:]:
                if candidate_id in candidate_ids and candidate_id not in first_pair:
                    first_pair[candidate_id] = row
    reviewed = set(Review.objects.filter(pair__campaign=campaign).values_list("pair_id", flat=True))
    by_pair: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for flag in flags:
        if flag["field"] == PREFERENCE_FIELD:
            pair_id = int(flag["item"])
            evidence = {**flag, "pair": pair_id}
        else:
            found_pair = first_pair.get(flag["item"])
            if found_pair is None:
                continue
            pair_id = found_pair[0]
            side = _side_of(found_pair, flag["item"])
            evidence = {**flag, "candidate": flag["item"], "side": side}
        if pair_id not in reviewed:
            by_pair[pair_id].append(evidence)
    reasons: dict[int, str] = {}
    for pair_id, found in by_pair.items():
        found.sort(key=lambda flag: -flag["confidence"])
        reasons[pair_id] = f"{REASON}: " + "; ".join(describe_flag(flag) for flag in found)
    added = review_requests_add(
        reasons=reasons,
        key=REVIEW_KEY,
        source=ReviewRequest.Source.CONSENSUS,
        scores={pair_id: _rank(found) for pair_id, found in by_pair.items()},
        evidence={pair_id: {"flags": found} for pair_id, found in by_pair.items()},
    )
    return {"flagged_pairs": len(by_pair), "added": len(added)}


def _rank(flags: list[dict[str, Any]]) -> float:
    """A disagreement ranks by the consensus' confidence; an uncertain item by how far its
    quality falls under the bar, below every confident disagreement."""
    ranks = [
        flag["confidence"] if flag["kind"] == "disagrees" else 0.5 * (1 - flag["confidence"])
        for flag in flags
    ]
    return float(max(ranks))


def describe_flag(flag: dict[str, Any]) -> str:
    """One flag in words, as the review queue shows it."""
    what = (
        f"preference of pair {flag['item']}"
        if flag["field"] == PREFERENCE_FIELD
        else f"{flag['field'].replace('_', ' ')} of candidate {flag['item']}"
        + (f" ({flag['side']})" if flag.get("side") else "")
    )
    if flag["kind"] == "disagrees":
        return (
            f"{what}: {flag['rater']} said {flag['value']!r}, consensus {flag['consensus']!r} "
            f"at {flag['confidence']:.2f}"
        )
    return f"{what}: uncertain consensus {flag['consensus']!r} at {flag['confidence']:.2f}"


def consensus_store(run: ConsensusRun, results: dict[str, FieldConsensus], seconds: float) -> None:
    """Write a computation's figures and labels on its run."""
    run.summary = {name: result.summary() for name, result in results.items()}
    run.labels = {
        name: {str(unit): list(value) for unit, value in result.labels.items()}
        for name, result in results.items()
    }
    run.status = ConsensusRun.Status.DONE
    run.computed_at = timezone.now()
    run.compute_seconds = round(seconds, 3)
    run.error = ""
    run.save()


def consensus_run_execute(*, run_id: int) -> ConsensusRun | None:
    """Compute a queued run (the worker's task, or the request for a small campaign): claim it,
    model every field, store, send the likely errors to review. A run already taken is left."""
    claimed = ConsensusRun.objects.filter(
        pk=run_id, status__in=(ConsensusRun.Status.QUEUED,)
    ).update(status=ConsensusRun.Status.RUNNING)
    run = ConsensusRun.objects.select_related("campaign").filter(pk=run_id).first()
    if not claimed or run is None:
        return run
    started = time.perf_counter()
    try:
        results = campaign_consensus(run.campaign)
        with transaction.atomic():
            consensus_store(run, results, time.perf_counter() - started)
            sent = flags_to_review(run.campaign, results)
            run.summary["review"] = sent
            run.save(update_fields=["summary"])
    except Exception as error:
        run.status = ConsensusRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
        run.save(update_fields=["status", "error"])
        raise
    return run


def consensus_request(*, campaign: Campaign, user: Any = None) -> ConsensusRun:
    """Ask for a campaign's consensus: computed now for a small campaign, else by a worker
    (a run already queued or running is returned instead of a second one)."""
    pending = ConsensusRun.objects.filter(
        campaign=campaign, status__in=(ConsensusRun.Status.QUEUED, ConsensusRun.Status.RUNNING)
    ).first()
    if pending is not None:
        return pending
    run = ConsensusRun.objects.create(
        campaign=campaign,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    if Judgment.objects.filter(pair__campaign=campaign).count() <= LIVE_JUDGMENTS_MAX:
        return consensus_run_execute(run_id=run.pk) or run
    run_id = run.pk
    transaction.on_commit(lambda: enqueue_consensus(run_id))
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
