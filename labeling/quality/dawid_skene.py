"""Dawid–Skene by EM over integer codes: ``crowd-kit``'s ``DawidSkene`` step for step, each
step one sparse matrix product.

crowd-kit's implementation joins and groups a DataFrame of every label in every step; on a
campaign of 600k judgments (1.1M candidate labels per field) one EM iteration takes about 4 s
there, a minute or more per field. Here the labels are one sparse matrix ``L`` (items × the
(rater, label) couples seen, 1 where that rater gave that item that label), so with ``P`` the
items' posteriors over the labels and ``E`` the raters' confusion rows:

* E-step: ``log₂ P ∝ log₂ prior + L · log₂ E``, shifted per row and normalised;
* M-step: ``E = Lᵀ · P``, clipped at 10⁻¹⁰ and normalised per rater and true label;
* stopping: the evidence lower bound per label, ``Σ P ⊙ (L · (ln E + ln prior)) − Σ P ln P``,
  improves by less than the tolerance.

The start (the majority vote's shares), the clipping, the known true labels' correction after
each E-step and the stopping rule are crowd-kit's, so the results are its own up to floating
point rounding (``tests/labeling/quality/test_consensus.py`` compares them on fixed data). The
labels are the codes given or known; as in crowd-kit, a label nobody gave has no column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

EPSILON = 1e-10
"""crowd-kit's floor for probabilities before a logarithm or a division."""


@dataclass(frozen=True)
class DawidSkeneFit:
    """A fitted model. ``labels`` are the codes that have a column, ascending; ``probas`` is
    items × those labels, ``priors`` their prior, ``errors[r, l, c]`` the probability that rater
    ``r`` says ``labels[l]`` when the truth is ``labels[c]`` (0 where ``r`` never said it)."""

    labels: np.ndarray
    probas: np.ndarray
    priors: np.ndarray
    errors: np.ndarray
    observed: np.ndarray
    iterations: int

    def reliability(self) -> np.ndarray:
        """Each rater's accuracy under the prior: Σ_c prior(c) · P(says c | truth c), over the
        labels the rater used (crowd-kit's error matrix has no row for the others)."""
        diagonal = np.diagonal(self.errors, axis1=1, axis2=2)
        return np.where(self.observed, diagonal * self.priors, 0.0).sum(axis=1)


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / matrix.sum(axis=1, keepdims=True)


def dawid_skene(
    items: np.ndarray,
    raters: np.ndarray,
    labels: np.ndarray,
    *,
    n_items: int,
    n_raters: int,
    true_labels: np.ndarray | None = None,
    n_iter: int,
    tol: float,
) -> DawidSkeneFit:
    """Fit on one row per (item, rater): ``items`` in ``[0, n_items)``, every item with a row,
    ``raters`` in ``[0, n_raters)``, ``labels`` non-negative codes. ``true_labels`` holds one
    code per item, negative where the truth is unknown."""
    truth = true_labels if true_labels is not None else np.full(n_items, -1)
    known = np.flatnonzero(truth >= 0)
    given = np.unique(labels)
    codes = np.union1d(given, truth[known])
    n_labels = codes.size
    label_index = np.searchsorted(codes, labels)
    # One column of L per (rater, label) couple, numbered rater-major.
    couple = raters.astype(np.int64) * n_labels + label_index
    seen, column = np.unique(couple, return_inverse=True)
    seen_rater, seen_label = np.divmod(seen, n_labels)
    ones = np.ones(items.size)
    matrix = sparse.csr_matrix((ones, (items, column)), shape=(n_items, seen.size))
    transposed = matrix.T.tocsr()
    per_item = np.asarray(matrix.sum(axis=1)).ravel()
    known_codes = np.searchsorted(codes, truth[known])

    def correct(probas: np.ndarray) -> np.ndarray:
        if known.size:
            probas[known] = 0.0
            probas[known, known_codes] = 1.0
        return probas

    def m_step(probas: np.ndarray) -> np.ndarray:
        errors = np.clip(transposed @ probas, EPSILON, None)
        totals = np.zeros((n_raters, n_labels))
        np.add.at(totals, seen_rater, errors)
        return errors / totals[seen_rater]

    def e_step(priors: np.ndarray, log_products: np.ndarray) -> np.ndarray:
        log_likelihood = np.log2(np.clip(priors, EPSILON, None)) + log_products
        scaled = np.exp2(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
        return _normalise_rows(scaled)

    def lower_bound(probas: np.ndarray, priors: np.ndarray, log_products: np.ndarray) -> float:
        log_priors = np.log(np.clip(priors, EPSILON, None))
        joint = (probas * (log_products * np.log(2) + per_item[:, None] * log_priors)).sum()
        clipped = np.clip(probas, EPSILON, None, out=probas)
        entropy = -(np.log(clipped) * clipped).sum()
        return float(joint + entropy)

    counts = np.bincount(
        items.astype(np.int64) * n_labels + label_index, minlength=n_items * n_labels
    ).reshape(n_items, n_labels)
    probas = correct(_normalise_rows(counts.astype(np.float64)))
    priors = probas.mean(axis=0)
    errors = m_step(probas)
    # L · log₂ E, for the bound of one iteration and the E-step of the next (× ln 2: ln E).
    log_products = matrix @ np.log2(errors)
    loss = -np.inf
    iterations = 0
    for _ in range(n_iter):
        iterations += 1
        probas = correct(e_step(priors, log_products))
        priors = probas.mean(axis=0)
        errors = m_step(probas)
        log_products = matrix @ np.log2(errors)
        # As crowd-kit's, the bound leaves the posteriors clipped at EPSILON.
        new_loss = lower_bound(probas, priors, log_products) / items.size
        if new_loss - loss < tol:
            break
        loss = new_loss
    full = np.zeros((n_raters, n_labels, n_labels))
    full[seen_rater, seen_label] = errors
    observed = np.zeros((n_raters, n_labels), dtype=bool)
    observed[seen_rater, seen_label] = True
    return DawidSkeneFit(
        labels=codes,
        probas=probas,
        priors=np.clip(priors, EPSILON, None),
        errors=full,
        observed=observed,
        iterations=iterations,
    )
