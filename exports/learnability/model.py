"""The learnability report: a small reward model trained on the train split, scored on the rest.

The model reads hashed word 1–2-grams of each response (scikit-learn's ``HashingVectorizer``,
so nothing is fitted to the vocabulary and memory stays bounded) and how much of the prompt the
response takes up (the cosine of the prompt's and the response's hashed vectors). A pair is the
difference of its chosen and rejected responses' features; a logistic regression without
intercept on those differences is the Bradley–Terry reward model of a linear reward. Each
training pair is shown in a seeded random orientation, so both classes occur.

Beside it, a baseline that sees only the difference of the responses' log lengths: when it
scores as well as the model, the dataset's "signal" is length bias.

Accuracy counts a pair as right when the model scores the chosen response higher (a tie counts
half); its 95% interval is a seeded percentile bootstrap over the evaluated pairs. Every random
draw comes from the report's seed, so the same pairs and seed give the same report.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

REPORT_VERSION = 1
# The fewest pairs a split needs: fewer train pairs learn nothing worth reporting, and fewer
# evaluated pairs give an interval too wide to say anything.
MIN_TRAIN_PAIRS = 40
MIN_EVAL_PAIRS = 20
# A category with fewer evaluated pairs is listed without a verdict about chance.
MIN_CATEGORY_PAIRS = 10
EVAL_SPLITS = ("validation", "test")
LEARNING_CURVE_SHARES = (0.25, 0.5, 1.0)
BOOTSTRAP_REPS = 1000
SURPRISING_PAIRS = 20
EXCERPT_CHARS = 240
# 2^18 buckets: L-BFGS keeps ten pairs of weight-sized vectors, so this bounds its memory
# (about 40 MB) while collisions among a reward model's useful n-grams stay rare.
HASH_FEATURES = 2**18
# Pairs featurised at once: bounds the memory of the per-response matrices.
CHUNK_PAIRS = 8192
# Light regularisation: enough to keep rare hashed n-grams from deciding alone.
REGULARISATION_C = 1.0
MAX_ITERATIONS = 300


@dataclass(frozen=True)
class PreferencePair:
    """One exported preference pair, as the report reads it."""

    split: str
    category: str
    prompt: str
    chosen: str
    rejected: str
    pair_id: str | None = None
    file: str | None = None
    line: int | None = None


class TooFewPairs(ValueError):
    """A split has fewer pairs than the report needs; says how many it needs."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.needs = needs()
        short = [
            f"{split} has {counts.get(split, 0)} (needs {need})"
            for split, need in self.needs.items()
            if counts.get(split, 0) < need
        ]
        super().__init__(
            "too few preference pairs for a learnability report: "
            + "; ".join(short)
            + f". It needs at least {MIN_TRAIN_PAIRS} train pairs and {MIN_EVAL_PAIRS} pairs "
            "in each of validation and test."
        )

    def as_report(self, *, seed: int) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "status": "too_few_pairs",
            "message": str(self),
            "pairs": {split: self.counts.get(split, 0) for split in ("train", *EVAL_SPLITS)},
            "needs": self.needs,
            "seed": seed,
        }


def needs() -> dict[str, int]:
    return {"train": MIN_TRAIN_PAIRS, **{split: MIN_EVAL_PAIRS for split in EVAL_SPLITS}}


def method() -> dict[str, Any]:
    """What the report's model and baseline are, as the manifest records it."""
    return {
        "model": "logistic regression without intercept on chosen − rejected features "
        "(a linear Bradley–Terry reward model), scikit-learn, CPU",
        "features": f"hashed word 1–2-grams of the response ({HASH_FEATURES} buckets, "
        "l2-normalised) and the prompt–response cosine of hashed vectors",
        "baseline": "logistic regression on log(chars chosen) − log(chars rejected) only",
        "interval": f"seeded percentile bootstrap, {BOOTSTRAP_REPS} resamples, 95%",
        "learning_curve": [f"{int(share * 100)}% of train" for share in LEARNING_CURVE_SHARES],
        "regularisation_c": REGULARISATION_C,
    }


def vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=HASH_FEATURES, ngram_range=(1, 2), norm="l2", dtype=np.float32
    )


def pair_features(pairs: Sequence[PreferencePair], hasher: HashingVectorizer) -> sp.csr_matrix:
    """One row per pair: features(chosen) − features(rejected), the relevance column last."""
    blocks = []
    for start in range(0, len(pairs), CHUNK_PAIRS):
        chunk = pairs[start : start + CHUNK_PAIRS]
        chosen = hasher.transform([pair.chosen for pair in chunk])
        rejected = hasher.transform([pair.rejected for pair in chunk])
        prompt = hasher.transform([pair.prompt for pair in chunk])
        relevance = np.asarray(prompt.multiply(chosen).sum(axis=1)) - np.asarray(
            prompt.multiply(rejected).sum(axis=1)
        )
        blocks.append(
            sp.hstack(
                [chosen - rejected, sp.csr_matrix(relevance.astype(np.float32))],
                format="csr",
                dtype=np.float32,
            )
        )
    if not blocks:
        return sp.csr_matrix((0, HASH_FEATURES + 1), dtype=np.float32)
    # Joined array by array, each block's part freed as it is copied: less than twice the
    # matrix is ever held (a vstack would hold the blocks and the result at once).
    offsets = np.cumsum([0] + [block.nnz for block in blocks])
    indptr = np.concatenate(
        [[0]] + [block.indptr[1:] + offset for block, offset in zip(blocks, offsets, strict=False)]
    ).astype(np.int64 if offsets[-1] > np.iinfo(np.int32).max else np.int32)
    data = np.concatenate([block.data for block in blocks])
    for block in blocks:
        block.data = np.empty(0, dtype=np.float32)
    indices = np.concatenate([block.indices for block in blocks])
    shape = (len(pairs), blocks[0].shape[1])
    del blocks
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def length_features(pairs: Sequence[PreferencePair]) -> np.ndarray:
    """log(1 + chars of chosen) − log(1 + chars of rejected), as one column."""
    return np.array(
        [[math.log1p(len(pair.chosen)) - math.log1p(len(pair.rejected))] for pair in pairs],
        dtype=np.float64,
    ).reshape(-1, 1)


def _fit(features: Any, seed: int) -> np.ndarray:
    """Fit the pairwise model; return its weights (score = features @ weights).

    A sparse ``features`` is turned in place (its rows' signs flipped): callers hand over a
    matrix they no longer need, so a 100k-pair fit holds one copy of it, not two.
    """
    rng = np.random.default_rng(seed)
    flip = rng.random(features.shape[0]) < 0.5
    if flip.all() or not flip.any():  # one orientation only (a tiny subset): show both
        flip[0] = not flip[0]
    signs = np.where(flip, -1.0, 1.0).astype(np.float32)
    if sp.issparse(features):
        oriented = features
        for start in range(0, features.shape[0], CHUNK_PAIRS):
            stop = min(start + CHUNK_PAIRS, features.shape[0])
            low, high = features.indptr[start], features.indptr[stop]
            lengths = np.diff(features.indptr[start : stop + 1])
            oriented.data[low:high] *= np.repeat(signs[start:stop], lengths)
    else:
        oriented = features * signs[:, None]
    labels = (~flip).astype(int)
    model = LogisticRegression(
        C=REGULARISATION_C, fit_intercept=False, solver="lbfgs", max_iter=MAX_ITERATIONS
    )
    model.fit(oriented, labels)
    return np.asarray(model.coef_[0], dtype=np.float64)


def _scores(features: Any, weights: np.ndarray) -> np.ndarray:
    return np.asarray(features @ weights, dtype=np.float64).ravel()


def _correct(scores: np.ndarray) -> np.ndarray:
    """1 where the chosen response scores higher, ½ on a tie, else 0."""
    return np.where(scores > 0, 1.0, np.where(scores == 0, 0.5, 0.0))


def _seed_for(seed: int, *names: str) -> int:
    """A stable seed per (report seed, what is resampled), so intervals never share draws."""
    return zlib.crc32("/".join((str(seed), *names)).encode())


def bootstrap(
    values: Sequence[np.ndarray], seed: int, reps: int = BOOTSTRAP_REPS
) -> list[np.ndarray]:
    """Bootstrap means of each vector over the same resamples (a paired bootstrap)."""
    size = len(values[0])
    rng = np.random.default_rng(seed)
    means = [np.empty(reps) for _ in values]
    step = max(1, 2_000_000 // max(size, 1))  # resamples per draw, to bound memory
    for start in range(0, reps, step):
        count = min(step, reps - start)
        index = rng.integers(0, size, size=(count, size))
        for vector, out in zip(values, means, strict=True):
            out[start : start + count] = vector[index].mean(axis=1)
    return means


def _interval(samples: np.ndarray) -> list[float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return [_round(low), _round(high)]


def _round(value: float) -> float:
    return round(float(value), 4)


def _accuracy_block(correct: np.ndarray, seed: int, *names: str) -> dict[str, Any]:
    (samples,) = bootstrap([correct], _seed_for(seed, *names))
    return {"accuracy": _round(correct.mean()), "interval": _interval(samples)}


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def learnability_report(pairs: Sequence[PreferencePair], *, seed: int) -> dict[str, Any]:
    """The report for ``pairs`` (each in its split). Raises :class:`TooFewPairs`."""
    by_split: dict[str, list[PreferencePair]] = defaultdict(list)
    for pair in pairs:
        by_split[pair.split].append(pair)
    counts = {split: len(by_split.get(split, [])) for split in ("train", *EVAL_SPLITS)}
    if any(counts[split] < need for split, need in needs().items()):
        raise TooFewPairs(counts)
    hasher = vectorizer()
    train = by_split["train"]
    train_features = pair_features(train, hasher)
    train_lengths = length_features(train)
    # Nested subsets of one seeded permutation: each point of the curve adds pairs to the last.
    order = np.random.default_rng(_seed_for(seed, "curve")).permutation(len(train))
    curve_weights = []
    for share in LEARNING_CURVE_SHARES:
        size = max(2, round(share * len(train)))
        if size < len(train):
            subset = train_features[np.sort(order[:size])]  # a copy, turned by the fit
        else:
            # The whole split, last: the fit turns the matrix itself, which is not used again.
            subset, train_features = train_features, None
        curve_weights.append((share, size, _fit(subset, _seed_for(seed, "fit"))))
        del subset
    weights = curve_weights[-1][2]
    length_weights = _fit(train_lengths, _seed_for(seed, "length"))
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "status": "ok",
        "seed": seed,
        "method": method(),
        "pairs": counts,
        "length_direction": "longer" if length_weights[0] >= 0 else "shorter",
        "splits": {},
        "not_above_chance": {},
        "surprising": [],
    }
    surprising: list[tuple[float, str, int]] = []
    for split in EVAL_SPLITS:
        evaluated = by_split[split]
        features = pair_features(evaluated, hasher)
        scores = _scores(features, weights)
        correct = _correct(scores)
        length_correct = _correct(_scores(length_features(evaluated), length_weights))
        model_samples, length_samples = bootstrap([correct, length_correct], _seed_for(seed, split))
        difference = model_samples - length_samples
        length_beats_chance = float(np.percentile(length_samples, 2.5)) > 0.5
        model_over_length = float(np.percentile(difference, 2.5)) > 0
        block: dict[str, Any] = {
            "pairs": len(evaluated),
            "accuracy": _round(correct.mean()),
            "interval": _interval(model_samples),
            "beats_chance": float(np.percentile(model_samples, 2.5)) > 0.5,
            "length_baseline": {
                "accuracy": _round(length_correct.mean()),
                "interval": _interval(length_samples),
                "beats_chance": length_beats_chance,
            },
            "model_minus_length": {
                "difference": _round(correct.mean() - length_correct.mean()),
                "interval": _interval(difference),
            },
            # The length alone beats chance and the model does no better: the signal it
            # learns may be length bias rather than content.
            "length_bias": length_beats_chance and not model_over_length,
            "learning_curve": [
                {
                    "share": share,
                    "train_pairs": size,
                    "accuracy": _round(_correct(_scores(features, curve)).mean()),
                }
                for share, size, curve in curve_weights
            ],
            "by_category": _by_category(evaluated, correct, length_correct, seed, split),
        }
        report["splits"][split] = block
        report["not_above_chance"][split] = [
            row["category"] for row in block["by_category"] if row["beats_chance"] is False
        ]
        for index, score in enumerate(scores):
            if score < 0:
                surprising.append((float(score), split, index))
    surprising.sort(key=lambda item: (item[0], item[1], item[2]))
    for score, split, index in surprising[:SURPRISING_PAIRS]:
        pair = by_split[split][index]
        report["surprising"].append(
            {
                "split": split,
                "category": pair.category,
                "pair_id": pair.pair_id,
                "file": pair.file,
                "line": pair.line,
                # The model's probability that the rejected response is the better one.
                "confidence_against_label": _round(1 / (1 + math.exp(score))),
                "prompt": _excerpt(pair.prompt),
                "chosen": _excerpt(pair.chosen),
                "rejected": _excerpt(pair.rejected),
            }
        )
    return report


def report_or_needs(pairs: Sequence[PreferencePair], *, seed: int) -> dict[str, Any]:
    """The report, or the report that says how many pairs each split needs."""
    try:
        return learnability_report(pairs, seed=seed)
    except TooFewPairs as short:
        return short.as_report(seed=seed)


def _by_category(
    pairs: Sequence[PreferencePair],
    correct: np.ndarray,
    length_correct: np.ndarray,
    seed: int,
    split: str,
) -> list[dict[str, Any]]:
    rows_of: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        rows_of[pair.category].append(index)
    result = []
    for category in sorted(rows_of):
        rows = np.array(rows_of[category])
        row: dict[str, Any] = {"category": category, "pairs": len(rows)}
        if len(rows) < MIN_CATEGORY_PAIRS:
            row.update(
                accuracy=_round(correct[rows].mean()),
                interval=None,
                beats_chance=None,
                length_accuracy=_round(length_correct[rows].mean()),
            )
        else:
            block = _accuracy_block(correct[rows], seed, split, category)
            row.update(
                accuracy=block["accuracy"],
                interval=block["interval"],
                beats_chance=block["interval"][0] > 0.5,
                length_accuracy=_round(length_correct[rows].mean()),
            )
        result.append(row)
    return result
