"""Prior labels in rubric terms: ratings made elsewhere, imported with a candidate.

A row of the generic ``jsonl`` / ``csv`` candidate formats may carry the labels other raters
gave its completion — another tool, an earlier round, a published gold set — as a ``labels``
object or a list of them (JSONL: ``{"rater": NAME, "response_mode", "severity",
"helpfulness"}``, every key optional; an unnamed rater is named by its place in the list, 1, 2,
…) or as ``labels.<rater>.<field>`` columns (CSV). Foreign
names for the rubric's values are translated by a **label mapping** (a JSON or YAML object
``{field: {foreign value: rubric value}}``); a value that is neither the rubric's own nor
mapped is a problem naming the line, the field and the value, so nothing is imported.

Each rater is stored on the candidate as ``prior_labels = {"raters": [{"rater": NAME,
<field>: <rubric value>, …}]}``; quality counts each as an annotator named ``prior:NAME``
(:func:`labeling.quality.agreement.prior_ratings`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.conf import settings

from policy.rubric import (
    HELPFULNESS_FIELD,
    HELPFULNESS_GRADES,
    REFUSAL_HELPFULNESS_MAX,
    REFUSAL_MODES,
    RESPONSE_MODE_FIELD,
    RESPONSE_MODES,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    SIDE_FIELDS,
)
from presentation.nesting import yaml_too_deep

from .common import ImportFailed, Problem, ProblemLog

LABELS_FIELD = "labels"
RATER_KEY = "rater"
RATERS_KEY = "raters"
LABEL_MAPPING_FIELD = "label_mapping"
MAX_RATER_CHARS = 100
# ``labels.<rater>.<field>``: a CSV column holding one rater's value of one field.
CSV_LABEL_COLUMN = re.compile(r"^labels\.(?P<rater>.+)\.(?P<field>[a-z_]+)$")
_RUBRIC_VALUES: dict[str, tuple[Any, ...]] = {
    RESPONSE_MODE_FIELD: RESPONSE_MODES,
    SEVERITY_FIELD: SEVERITY_LEVELS,
    HELPFULNESS_FIELD: HELPFULNESS_GRADES,
}


def _rubric_value(name: str, value: Any) -> Any | None:
    """``value`` as the rubric spells it for field ``name``, or None when it is not one.

    Helpfulness is a grade: ``3`` and ``"3"`` are both the grade 3.
    """
    if name == HELPFULNESS_FIELD:
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        return value if isinstance(value, int) and value in HELPFULNESS_GRADES else None
    return value if isinstance(value, str) and value in _RUBRIC_VALUES[name] else None


def _allowed(name: str) -> str:
    return ", ".join(str(value) for value in _RUBRIC_VALUES[name])


@dataclass
class LabelMapping:
    """Foreign label values → the rubric's, per field. A rubric value always maps to itself."""

    by_field: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> LabelMapping:
        """Check a mapping document; raises :class:`ImportFailed` (field ``label_mapping``)
        naming every key or target that is not the rubric's, and nothing is imported."""
        problems: list[Problem] = []
        mapping = cls()
        for name, values in (data or {}).items():
            if name not in SIDE_FIELDS:
                problems.append(
                    Problem(
                        0,
                        LABEL_MAPPING_FIELD,
                        f"unknown field {str(name)[:80]!r} (the rubric's fields: "
                        f"{', '.join(SIDE_FIELDS)})",
                    )
                )
                continue
            if not isinstance(values, dict):
                problems.append(
                    Problem(0, LABEL_MAPPING_FIELD, f"{name}: must map foreign values to values")
                )
                continue
            table: dict[str, Any] = {}
            for foreign, target in values.items():
                value = _rubric_value(name, target)
                if value is None:
                    problems.append(
                        Problem(
                            0,
                            LABEL_MAPPING_FIELD,
                            f"{name}: {str(foreign)[:80]!r} maps to {str(target)[:80]!r}, "
                            f"which is not a {name} value ({_allowed(name)})",
                        )
                    )
                    continue
                table[str(foreign).strip()] = value
            mapping.by_field[name] = table
        if problems:
            raise ImportFailed(problems)
        return mapping

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """The checked mapping, as stored with an import job's options."""
        return {name: dict(values) for name, values in self.by_field.items()}

    def translate(self, name: str, value: Any) -> Any | None:
        """The rubric value for ``value`` of field ``name``, or None when it is unmapped."""
        own = _rubric_value(name, value)
        if own is not None:
            return own
        if isinstance(value, str | int) and not isinstance(value, bool):
            return self.by_field.get(name, {}).get(str(value).strip())
        return None


def label_mapping_parse(text: str) -> LabelMapping:
    """A label mapping from the text of a JSON or YAML file (nested no deeper than
    ``JSON_MAX_DEPTH``); problems are :class:`ImportFailed` with field ``label_mapping``."""
    too_deep = yaml_too_deep(text, settings.JSON_MAX_DEPTH)
    if too_deep:
        raise ImportFailed([Problem(too_deep.line, LABEL_MAPPING_FIELD, too_deep.message("YAML"))])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ImportFailed(
            [Problem(0, LABEL_MAPPING_FIELD, f"not JSON or YAML: {error}")]
        ) from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ImportFailed(
            [Problem(0, LABEL_MAPPING_FIELD, "the label mapping must hold an object")]
        )
    return LabelMapping.from_dict(data)


def label_mapping_read(raw: bytes) -> LabelMapping:
    """:func:`label_mapping_parse` of an uploaded file's bytes (UTF-8)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ImportFailed(
            [Problem(0, LABEL_MAPPING_FIELD, f"bad encoding (not UTF-8) at byte {error.start}")]
        ) from error
    return label_mapping_parse(text)


class PriorLabelReader:
    """Reads the prior labels of one row into rubric terms, logging every bad value."""

    def __init__(self, mapping: LabelMapping, log: ProblemLog) -> None:
        self.mapping = mapping
        self.log = log

    def _rater(self, line: int, where: str, value: dict[str, Any], name: Any) -> dict | None:
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not name.strip():
            self.log.add(line, f"{where}.{RATER_KEY}", "must be a non-empty name")
            return None
        name = name.strip()
        if len(name) > MAX_RATER_CHARS or "\x00" in name:
            self.log.add(
                line, f"{where}.{RATER_KEY}", f"at most {MAX_RATER_CHARS} characters, no NUL"
            )
            return None
        rated: dict[str, Any] = {RATER_KEY: name}
        good = True
        for field_name in SIDE_FIELDS:
            raw = value.get(field_name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            translated = self.mapping.translate(field_name, raw)
            if translated is None:
                self.log.add(
                    line,
                    f"{where}.{field_name}",
                    f"unmapped value {str(raw)[:80]!r}: not a {field_name} value "
                    f"({_allowed(field_name)}) and not in the label mapping",
                )
                good = False
                continue
            rated[field_name] = translated
        mode, helpfulness = rated.get(RESPONSE_MODE_FIELD), rated.get(HELPFULNESS_FIELD)
        if good and mode in REFUSAL_MODES and (helpfulness or 0) > REFUSAL_HELPFULNESS_MAX:
            self.log.add(
                line,
                f"{where}.{HELPFULNESS_FIELD}",
                f"a refusal ({mode}) scores at most {REFUSAL_HELPFULNESS_MAX}, got {helpfulness}",
            )
            good = False
        if good and len(rated) == 1:
            self.log.add(line, where, f"rates nothing: give one of {', '.join(SIDE_FIELDS)}")
            good = False
        return rated if good else None

    def _collect(self, line: int, raters: list[dict[str, Any]]) -> dict[str, Any] | None:
        names = [rater[RATER_KEY] for rater in raters]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            self.log.add(line, LABELS_FIELD, f"rater(s) named twice: {', '.join(repeated)[:200]}")
            return None
        return {RATERS_KEY: raters} if raters else {}

    def from_json(self, line: int, value: Any) -> dict[str, Any] | None:
        """A JSONL row's ``labels`` (an object, or a list of objects: one per rater) as
        ``prior_labels``; None after logging why it is not."""
        entries = value if isinstance(value, list) else [value]
        raters: list[dict[str, Any]] = []
        good = True
        for index, entry in enumerate(entries):
            where = f"{LABELS_FIELD}[{index}]" if isinstance(value, list) else LABELS_FIELD
            if not isinstance(entry, dict):
                self.log.add(line, where, "must be an object {rater, response_mode, …}")
                good = False
                continue
            unknown = set(entry) - {RATER_KEY, *SIDE_FIELDS}
            if unknown:
                self.log.add(line, where, f"unknown key(s): {', '.join(sorted(unknown))[:200]}")
                good = False
                continue
            # Without a name, the n-th rater of every row is one rater, named n.
            rated = self._rater(line, where, entry, entry.get(RATER_KEY, str(index + 1)))
            if rated is None:
                good = False
            else:
                raters.append(rated)
        return self._collect(line, raters) if good else None

    def from_columns(self, line: int, row: Mapping[str, str]) -> dict[str, Any] | None:
        """A CSV row's ``labels.<rater>.<field>`` cells as ``prior_labels`` (empty cells are
        not rated); None after logging why they are not."""
        by_rater: dict[str, dict[str, str]] = {}
        for column, cell in row.items():
            match = CSV_LABEL_COLUMN.match(column)
            if match and cell.strip():
                by_rater.setdefault(match["rater"], {})[match["field"]] = cell
        raters: list[dict[str, Any]] = []
        good = True
        for name, cells in by_rater.items():
            rated = self._rater(line, f"{LABELS_FIELD}.{name}", cells, name)
            if rated is None:
                good = False
            else:
                raters.append(rated)
        return self._collect(line, raters) if good else None


def label_columns_check(header: list[str], log: ProblemLog) -> None:
    """Log every ``labels.…`` column of a CSV header that does not name a rubric field."""
    for column in header:
        if not column.startswith(f"{LABELS_FIELD}."):
            continue
        match = CSV_LABEL_COLUMN.match(column)
        if match is None or match["field"] not in SIDE_FIELDS:
            log.add(
                1,
                column[:120],
                f"a label column is labels.<rater>.<field>, the field one of "
                f"{', '.join(SIDE_FIELDS)}",
            )
