"""The frozen selection and settings of an export, parsed strictly from plain data.

The same parser serves the form, the API and the ``export`` command, so every way in accepts
and refuses exactly the same things.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from policy.rubric import PREFERENCE_MAX, Intent

FORMATS: tuple[str, ...] = (
    "openai-dpo",
    "openai-sft",
    "trl-preference",
    "trl-kto",
    "reward",
    "judgments",
    "judgments-csv",
    "grades",
)
# Formats that carry raw human judgments only: grader labels have their own format, ``grades``.
HUMAN_ONLY_FORMATS: frozenset[str] = frozenset({"judgments", "judgments-csv"})
# Formats with one row per candidate (their labels are weighed candidate by candidate).
PER_CANDIDATE_FORMATS: frozenset[str] = frozenset({"openai-sft", "trl-kto", "reward"})
# Formats someone else defines to the letter: a row's label source goes in a metadata file
# beside the data file (line n describes row n), never into the row.
METADATA_BESIDE_FORMATS: frozenset[str] = frozenset({"openai-dpo", "openai-sft"})
# Formats with one row per preference pair: each export of them gets a learnability report.
PREFERENCE_FORMATS: frozenset[str] = frozenset({"openai-dpo", "trl-preference"})
PREFERENCE_SOURCES: tuple[str, ...] = ("human", "reward", "both")
LABEL_SOURCES: tuple[str, ...] = ("raw", "review", "prior")
# Whose labels an export uses: the humans' (within them, ``label_sources`` says which are
# trusted), a grader version's grades, or the humans' where they qualify and the grader's
# otherwise.
HUMAN = "human"
GRADER = "grader"
HUMAN_ELSE_GRADER = "human-else-grader"
LABEL_SOURCE_CHOICES: tuple[str, ...] = (HUMAN, GRADER, HUMAN_ELSE_GRADER)
# How several raters' labels of a pair become one: their majority (the mean preference, the
# most common mode, mean scores), or the campaign's consensus model (labeling.quality.consensus)
# for response mode, severity and the preference's direction.
MAJORITY = "majority"
CONSENSUS = "consensus"
LABEL_AGGREGATIONS: tuple[str, ...] = (MAJORITY, CONSENSUS)
# Formats that hold labels as stored, never aggregated: consensus labels have no place there.
UNAGGREGATED_FORMATS: frozenset[str] = frozenset({"judgments", "judgments-csv", "grades"})
SPLITS: tuple[str, ...] = ("train", "validation", "test")
ARCHIVE_FORMATS: tuple[str, ...] = ("tar.gz", "zip")
DEFAULT_SPLIT_RATIOS: dict[str, float] = {"train": 0.9, "validation": 0.05, "test": 0.05}


@dataclass(frozen=True)
class ExportSpec:
    """Everything that decides an export's data files (the selection and the settings)."""

    format: str
    campaigns: tuple[str, ...]
    categories: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    date_from: str | None = None  # ISO date, inclusive, on the judgment's creation date
    date_to: str | None = None  # ISO date, inclusive
    policy_version: int | None = None
    min_judgments: int = 1
    min_agreement: float = 0.0
    preference_source: str = "human"
    min_margin: float = 0.0
    sft_threshold: float = 0.66
    kto_threshold: float = 0.5
    split_ratios: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLIT_RATIOS))
    seed: int = 1234
    label_sources: tuple[str, ...] = ("raw", "review")
    pseudonymise_annotators: bool = True
    archive_format: str = "tar.gz"
    label_source: str = HUMAN
    grader: str | None = None  # a grader's name
    # The grader version used; the service pins it when the export is created, so a later
    # version of the grader never changes what a stored export means.
    grader_version: int | None = None
    min_grader_confidence: float = 0.0
    labels: str = MAJORITY
    # The consensus run of each campaign, pinned when the export is created (consensus only).
    consensus_runs: tuple[int, ...] = ()

    @property
    def uses_grader(self) -> bool:
        """Whether grades feed this export (a grader label source, or the grades format)."""
        return self.label_source != HUMAN

    def selection(self) -> dict[str, Any]:
        """The filters, as the manifest names them."""
        return {
            "campaigns": list(self.campaigns),
            "categories": list(self.categories),
            "intents": list(self.intents),
            "date_from": self.date_from,
            "date_to": self.date_to,
            "policy_version": self.policy_version,
            "min_judgments": self.min_judgments,
            "min_agreement": self.min_agreement,
            "label_sources": list(self.label_sources),
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("campaigns", "categories", "intents", "label_sources", "consensus_runs"):
            data[key] = list(data[key])
        return data


def _as_list(value: Any, name: str, errors: dict[str, list[str]]) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors.setdefault(name, []).append("must be a list of strings")
        return []
    return sorted({v.strip() for v in value if v.strip()})


def _as_number(
    value: Any,
    name: str,
    default: float | None,
    errors: dict[str, list[str]],
    *,
    low: float,
    high: float,
    integer: bool = False,
) -> Any:
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append("must be a number")
        return default
    if isinstance(value, bool) or (not integer and not math.isfinite(number)):
        errors.setdefault(name, []).append("must be a number")
        return default
    if integer and isinstance(value, float) and not value.is_integer():
        errors.setdefault(name, []).append("must be a whole number")
        return default
    if not low <= number <= high:
        errors.setdefault(name, []).append(f"must be between {low:g} and {high:g}")
        return default
    return number


def _as_date(value: Any, name: str, errors: dict[str, list[str]]) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        errors.setdefault(name, []).append("must be a date, YYYY-MM-DD")
        return None


def _as_bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


KNOWN_KEYS = frozenset(ExportSpec.__dataclass_fields__)


def parse_spec(data: dict[str, Any]) -> ExportSpec:
    """Build an :class:`ExportSpec` from plain data; raise ValidationError naming every bad field.

    Unknown keys are refused (filter parameters are allow-listed). Campaign existence is checked
    by the service, which knows the database.
    """
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - KNOWN_KEYS):
        errors.setdefault(key, []).append("unknown setting")
    fmt = data.get("format")
    if fmt not in FORMATS:
        errors.setdefault("format", []).append(f"must be one of {', '.join(FORMATS)}")
    campaigns = _as_list(data.get("campaigns"), "campaigns", errors)
    if not campaigns and "campaigns" not in errors:
        errors.setdefault("campaigns", []).append("choose at least one campaign")
    categories = _as_list(data.get("categories"), "categories", errors)
    for path in categories:
        if path.startswith("/") or path.endswith("/") or ".." in path:
            errors.setdefault("categories", []).append(f"not a category path: {path!r}")
    intents = _as_list(data.get("intents"), "intents", errors)
    for intent in intents:
        if intent not in Intent.values:
            errors.setdefault("intents", []).append(f"unknown intent {intent!r}")
    date_from = _as_date(data.get("date_from"), "date_from", errors)
    date_to = _as_date(data.get("date_to"), "date_to", errors)
    if date_from and date_to and date_from > date_to:
        errors.setdefault("date_to", []).append("must not be before date_from")
    policy_version = data.get("policy_version")
    if policy_version in (None, ""):
        policy_version = None
    else:
        policy_version = _as_number(
            policy_version, "policy_version", None, errors, low=1, high=10**9, integer=True
        )
    source = data.get("preference_source") or "human"
    if source not in PREFERENCE_SOURCES:
        errors.setdefault("preference_source", []).append(
            f"must be one of {', '.join(PREFERENCE_SOURCES)}"
        )
    label_sources = _as_list(data.get("label_sources"), "label_sources", errors)
    if "label_sources" not in data or data.get("label_sources") in (None, ""):
        label_sources = ["raw", "review"]
    for name in label_sources:
        if name not in LABEL_SOURCES:
            errors.setdefault("label_sources", []).append(f"unknown label source {name!r}")
    if not label_sources and "label_sources" not in errors:
        errors.setdefault("label_sources", []).append("trust at least one source of labels")
    ratios_in = data.get("split_ratios") or DEFAULT_SPLIT_RATIOS
    ratios: dict[str, float] = {}
    if not isinstance(ratios_in, dict) or set(ratios_in) - set(SPLITS):
        errors.setdefault("split_ratios", []).append(
            "must map train, validation and test to shares"
        )
    else:
        for split in SPLITS:
            ratios[split] = _as_number(
                ratios_in.get(split, 0), "split_ratios", 0.0, errors, low=0.0, high=1.0
            )
        if abs(sum(ratios.values()) - 1.0) > 1e-6:
            errors.setdefault("split_ratios", []).append("must add up to 1")
    archive_format = data.get("archive_format") or "tar.gz"
    if archive_format not in ARCHIVE_FORMATS:
        errors.setdefault("archive_format", []).append("must be tar.gz or zip")
    grader_settings = _grader_settings(data, fmt, errors)
    labels = data.get("labels") or MAJORITY
    if labels not in LABEL_AGGREGATIONS:
        errors.setdefault("labels", []).append(f"must be one of {', '.join(LABEL_AGGREGATIONS)}")
    elif labels == CONSENSUS and fmt in UNAGGREGATED_FORMATS:
        errors.setdefault("labels", []).append(
            f"the {fmt} format holds labels as stored; consensus labels need another format"
        )
    elif labels == CONSENSUS and grader_settings["label_source"] == GRADER:
        errors.setdefault("labels", []).append(
            "consensus labels are human labels: use label source human or human-else-grader"
        )
    consensus_runs = data.get("consensus_runs") or ()
    if not isinstance(consensus_runs, list | tuple) or not all(
        isinstance(run, int) and not isinstance(run, bool) for run in consensus_runs
    ):
        errors.setdefault("consensus_runs", []).append("must be a list of consensus run ids")
        consensus_runs = ()
    spec_kwargs: dict[str, Any] = {
        "min_judgments": _as_number(
            data.get("min_judgments"), "min_judgments", 1, errors, low=1, high=1000, integer=True
        ),
        "min_agreement": _as_number(
            data.get("min_agreement"), "min_agreement", 0.0, errors, low=0.0, high=1.0
        ),
        "min_margin": _as_number(
            data.get("min_margin"), "min_margin", 0.0, errors, low=0.0, high=float(PREFERENCE_MAX)
        ),
        "sft_threshold": _as_number(
            data.get("sft_threshold"), "sft_threshold", 0.66, errors, low=0.0, high=1.0
        ),
        "kto_threshold": _as_number(
            data.get("kto_threshold"), "kto_threshold", 0.5, errors, low=0.0, high=1.0
        ),
        "seed": _as_number(
            data.get("seed"), "seed", 1234, errors, low=0, high=2**63 - 1, integer=True
        ),
    }
    if errors:
        raise ValidationError(errors)
    return ExportSpec(
        format=str(fmt),
        campaigns=tuple(campaigns),
        categories=tuple(categories),
        intents=tuple(intents),
        date_from=date_from,
        date_to=date_to,
        policy_version=policy_version,
        preference_source=source,
        split_ratios=ratios,
        label_sources=tuple(label_sources),
        pseudonymise_annotators=_as_bool(data.get("pseudonymise_annotators"), True),
        archive_format=archive_format,
        labels=labels,
        consensus_runs=tuple(consensus_runs) if labels == CONSENSUS else (),
        **grader_settings,
        **spec_kwargs,
    )


def _grader_settings(
    data: dict[str, Any], fmt: Any, errors: dict[str, list[str]]
) -> dict[str, Any]:
    """The label source, grader, grader version and minimum confidence, checked together.

    The ``grades`` format holds grader labels only: its label source is always ``grader``
    (the default ``human`` a form sends is read as that).
    """
    label_source = data.get("label_source") or HUMAN
    if label_source not in LABEL_SOURCE_CHOICES:
        errors.setdefault("label_source", []).append(
            f"must be one of {', '.join(LABEL_SOURCE_CHOICES)}"
        )
        label_source = HUMAN
    if fmt == "grades":
        if label_source == HUMAN_ELSE_GRADER:
            errors.setdefault("label_source", []).append(
                "the grades format holds grader labels only: use grader"
            )
        label_source = GRADER
    elif fmt in HUMAN_ONLY_FORMATS and label_source != HUMAN:
        errors.setdefault("label_source", []).append(
            f"the {fmt} format holds raw human judgments only; "
            "export grader labels with the grades format"
        )
    grader = data.get("grader")
    if grader in (None, ""):
        grader = None
    elif not isinstance(grader, str):
        errors.setdefault("grader", []).append("must be a grader's name")
        grader = None
    else:
        grader = grader.strip()
    version = data.get("grader_version")
    if version in (None, ""):
        version = None
    else:
        version = _as_number(
            version, "grader_version", None, errors, low=1, high=10**9, integer=True
        )
    min_confidence = _as_number(
        data.get("min_grader_confidence"),
        "min_grader_confidence",
        0.0,
        errors,
        low=0.0,
        high=1.0,
    )
    if label_source == HUMAN:
        if grader is not None or version is not None:
            errors.setdefault("grader", []).append(
                "a grader's labels are used only with label source grader or human-else-grader"
            )
        if min_confidence:
            errors.setdefault("min_grader_confidence", []).append(
                "applies only with label source grader or human-else-grader"
            )
    elif grader is None and "grader" not in errors:
        errors.setdefault("grader", []).append(
            f"choose the grader whose labels label source {label_source} uses"
        )
    return {
        "label_source": label_source,
        "grader": grader,
        "grader_version": version,
        "min_grader_confidence": min_confidence,
    }


def spec_from_stored(data: dict[str, Any]) -> ExportSpec:
    """Rebuild the spec frozen on an Export row (it was validated when created)."""
    return parse_spec(dict(data))
