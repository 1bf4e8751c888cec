"""What every format module shares: the context it writes with and small row helpers."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from ..aggregation import GRADER_SOURCE, PromptGroup, ResolvedPair, ScoreTables, rounded
from ..spec import GRADER, HUMAN, METADATA_BESIDE_FORMATS, ExportSpec
from ..writer import DataWriter


@dataclass
class FormatContext:
    """The export's settings and sinks, handed to a format for each prompt."""

    spec: ExportSpec
    mapping: Mapping[str, float]
    policy_version: int | None
    writer: DataWriter
    split_of: Callable[[PromptGroup], str]
    tables: ScoreTables
    counts: Counter[str] = field(default_factory=Counter)
    extra_counts: Counter[str] = field(default_factory=Counter)
    notes: set[str] = field(default_factory=set)
    sources: Counter[str] = field(default_factory=Counter)  # rows written per label source

    def leave_out(self, reason: str, count: int = 1) -> None:
        self.counts[reason] += count

    def write_row(
        self,
        category: str,
        split: str,
        row: dict[str, Any],
        *,
        source: str | None = None,
        confidence: float | None = None,
    ) -> None:
        """Write one data row with its provenance.

        An export of human labels only (label source ``human``) writes the row exactly as
        given. Otherwise the row's ``metadata`` says whose labels it holds (``source``: a
        ResolvedPair source — ``grader``, or a human one) and, for a grader's, which grader
        version and how confident; formats that admit no extra key get it in the metadata
        file beside the data file instead.
        """
        spec = self.spec
        if not spec.uses_grader:
            self.writer.write_json(category, split, row)
            return
        label_source = GRADER if source == GRADER_SOURCE else HUMAN
        metadata: dict[str, Any] = {"label_source": label_source}
        if label_source == GRADER:
            metadata["grader"] = spec.grader
            metadata["grader_version"] = spec.grader_version
            metadata["grader_confidence"] = None if confidence is None else rounded(confidence)
        self.sources[label_source] += 1
        if spec.format in METADATA_BESIDE_FORMATS:
            self.writer.write_json(category, split, row)
            self.writer.write_metadata(category, split, metadata)
        else:
            self.writer.write_json(category, split, {**row, "metadata": metadata})


class ExportFormat(Protocol):
    """A format module: its file extension, whether it needs the judgments' details, a writer."""

    NAME: str
    EXTENSION: str
    WITH_DETAILS: bool
    CSV_HEADER: tuple[str, ...] | None

    def write_prompt(
        self, prompt: PromptGroup, kept: list[ResolvedPair], context: FormatContext
    ) -> None: ...


def assistant(text: str) -> list[dict[str, str]]:
    """A completion as a one-message assistant turn."""
    return [{"role": "assistant", "content": text}]


def annotator_pseudonym(user_id: int) -> str:
    """A stable pseudonym: a keyed hash of the user id, so it cannot be reversed by guessing."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"graylab-annotator:{user_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"annotator-{digest[:12]}"
