"""Krippendorff's α over an export's selection, computed while the rows stream past.

α needs only the coincidence matrix of each field (values × values), which grows by one
unit at a time, so memory stays flat however many judgments stream through. Units follow
``labeling.quality.agreement``: severity and helpfulness are rated per candidate (a rater who
rated one candidate in several pairs counts once, with the lower median of their ratings),
preference per pair. The figures cover the raw judgments of every selected pair, before the
export's rules leave any out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policy.rubric import HELPFULNESS_GRADES, PREFERENCE_VALUES, SEVERITY_ORDINAL

from .aggregation import PromptGroup, SideLabel

# Severity is compared by its ordinal; helpfulness and preference by their own values.
SEVERITY_VALUES = tuple(SEVERITY_ORDINAL.values())
HELPFULNESS_VALUES = HELPFULNESS_GRADES


@dataclass
class Coincidences:
    """The coincidence matrix of one field, filled unit by unit.

    A unit only matters through the multiset of its values, and with four or five levels and
    a handful of raters there are few distinct multisets: each unit just counts its multiset,
    and the matrix is built from the counts at the end (fast, exact, order-independent).
    """

    values: tuple[int, ...]
    level: str  # "ordinal" or "interval"
    signatures: dict[tuple[int, ...], int] = field(default_factory=dict)
    units: int = 0

    def __post_init__(self) -> None:
        self.index = {value: position for position, value in enumerate(self.values)}

    def add_unit(self, ratings: Sequence[int]) -> None:
        """One unit's values, one per rater; units with fewer than two are not pairable."""
        if len(ratings) < 2:
            return
        self.units += 1
        key = tuple(sorted(ratings))
        self.signatures[key] = self.signatures.get(key, 0) + 1

    @property
    def matrix(self) -> list[list[float]]:
        """Every ordered pair of different raters of a unit adds 1 / (m − 1) to its cell."""
        size = len(self.values)
        matrix = [[0.0] * size for _ in range(size)]
        for key in sorted(self.signatures):
            times = self.signatures[key]
            weight = times / (len(key) - 1)
            positions = [self.index[value] for value in key]
            for i, c in enumerate(positions):
                for j, k in enumerate(positions):
                    if i != j:
                        matrix[c][k] += weight
        return matrix

    def alpha(self) -> float | None:
        """α, or None when there is nothing to compare or no variation at all."""
        matrix = self.matrix
        totals = [sum(row) for row in matrix]
        n = sum(totals)
        if n <= 1:
            return None
        size = len(self.values)
        delta = [[self._delta(c, k, totals) for k in range(size)] for c in range(size)]
        observed = sum(matrix[c][k] * delta[c][k] for c in range(size) for k in range(size))
        expected = sum(
            totals[c] * totals[k] * delta[c][k] for c in range(size) for k in range(size)
        )
        if expected == 0:
            return None
        return 1.0 - (n - 1) * observed / expected

    def _delta(self, c: int, k: int, totals: list[float]) -> float:
        if self.level == "interval":
            return float((self.values[c] - self.values[k]) ** 2)
        low, high = min(c, k), max(c, k)
        between = sum(totals[low : high + 1]) - (totals[low] + totals[high]) / 2
        return between**2


def _lower_median(values: list[int]) -> int:
    if len(values) == 2:
        return min(values)
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


class AgreementAccumulator:
    """Feeds each streamed prompt's raw judgments into the three coincidence matrices."""

    def __init__(self) -> None:
        self.severity = Coincidences(SEVERITY_VALUES, "ordinal")
        self.helpfulness = Coincidences(HELPFULNESS_VALUES, "ordinal")
        self.preference = Coincidences(PREFERENCE_VALUES, "interval")

    def add_prompt(self, prompt: PromptGroup) -> None:
        """Add the prompt's pairs (preference units) and candidates (severity, helpfulness)."""
        # candidate -> rater -> that rater's ratings of the candidate, across the prompt's pairs
        ratings: dict[int, dict[Any, list[SideLabel]]] = {}
        add_preference = self.preference.add_unit
        for pair in prompt.pairs:
            judgments = pair.judgments
            if not judgments:
                continue
            if len(judgments) > 1:
                # One judgment per (pair, annotator) is a database constraint: no reduction.
                add_preference([int(judgment.preference) for judgment in judgments])
            a_raters = ratings.get(pair.a.id)
            if a_raters is None:
                a_raters = ratings[pair.a.id] = {}
            b_raters = ratings.get(pair.b.id)
            if b_raters is None:
                b_raters = ratings[pair.b.id] = {}
            for judgment in judgments:
                rater = judgment.annotator_id
                for raters, side in ((a_raters, judgment.a), (b_raters, judgment.b)):
                    if side is not None:
                        found = raters.get(rater)
                        if found is None:
                            raters[rater] = [side]
                        else:
                            found.append(side)
        ordinal = SEVERITY_ORDINAL
        for raters in ratings.values():
            if len(raters) < 2:
                continue
            severities: list[int] = []
            helpfulness: list[int] = []
            for sides in raters.values():
                if len(sides) == 1:
                    severities.append(ordinal[sides[0].severity])
                    helpfulness.append(sides[0].helpfulness)
                elif len(sides) == 2:  # rated in two pairs (the usual case): the lower of two
                    first, second = sides
                    severities.append(min(ordinal[first.severity], ordinal[second.severity]))
                    helpfulness.append(min(first.helpfulness, second.helpfulness))
                else:
                    severities.append(_lower_median([ordinal[side.severity] for side in sides]))
                    helpfulness.append(_lower_median([side.helpfulness for side in sides]))
            self.severity.add_unit(severities)
            self.helpfulness.add_unit(helpfulness)

    def result(self) -> dict[str, Any] | None:
        """The manifest's ``agreement`` block, or None when no unit had two raters."""
        if not (self.severity.units or self.preference.units):
            return None

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 6)

        return {
            "severity_alpha_ordinal": rounded(self.severity.alpha()),
            "helpfulness_alpha_ordinal": rounded(self.helpfulness.alpha()),
            "preference_alpha_interval": rounded(self.preference.alpha()),
            "units": {
                "candidates": self.severity.units,
                "pairs": self.preference.units,
            },
            "over": "raw judgments of every selected pair",
        }


def selection_agreement(result: Any) -> dict[str, Any] | None:
    """The agreement figures a pipeline run computed (None where none were available)."""
    return getattr(result, "agreement", None)
