"""Export formats, one module each (docs/formats.md).

``FORMATS`` maps a format name to its module.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from . import grades, openai_dpo, openai_sft, reward, trl_kto, trl_preference
from .judgments import CsvJudgments, JsonlJudgments

FORMATS: dict[str, Any] = {
    "openai-dpo": openai_dpo,
    "openai-sft": openai_sft,
    "trl-preference": trl_preference,
    "trl-kto": trl_kto,
    "reward": reward,
    "judgments": JsonlJudgments,
    "judgments-csv": CsvJudgments,
    "grades": grades,
}


def format_module(name: str) -> Any:
    """The module (or class) that writes format ``name``."""
    try:
        return FORMATS[name]
    except KeyError as error:
        raise ValueError(f"unknown export format {name!r}") from error


__all__ = ["FORMATS", "ModuleType", "format_module"]
