"""What every format module shares: the context it writes with and small row helpers."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings

from ..aggregation import PromptGroup, ResolvedPair, ScoreTables
from ..spec import ExportSpec
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

    def leave_out(self, reason: str, count: int = 1) -> None:
        self.counts[reason] += count


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
