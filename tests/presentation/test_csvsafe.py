"""CSV cells a spreadsheet would evaluate are neutralised, whatever form the trigger takes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from exports.writer import DataWriter
from presentation.csvsafe import neutralise_cell, rows_to_csv

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
# Fullwidth and small forms of = + - @ (NFKC folds them to the ASCII signs).
LOOKALIKES = ["\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66", "\ufe62", "\ufe63", "\ufe6b"]

EVALUATED = [
    "=1+1",
    "+SUM(1,2)",
    "-1 dubious",
    "@evil",
    "\tcmd",
    "\rcmd",
    *[f'{sign}HYPERLINK("http://evil")' for sign in LOOKALIKES],
    *[f"{invisible}=cmd|' /C calc'!A0" for invisible in ZERO_WIDTH],
    *[f"{invisible}\uff0b1" for invisible in ZERO_WIDTH],
    "\u200b\u200d\ufeff@SUM(A1)",  # several invisible characters in a row
    "\u202e=1+1",  # a bidi override: a format character too
    "\u00ad-1",  # soft hyphen
    "\u3164=1",  # Hangul filler, a letter drawn blank
    "\u00a0=1",  # no-break space
    " \u200b=1",
    "\n=1",
]
PLAIN = [
    "hello",
    "a=b",
    "1-2",
    "x\uff1d1",  # a sign further in is no trigger
    "\u200bhello",
    "\u200b",
    "",
    "'=already quoted",
    "\u2212 minus sign is not a formula sign",
]


@pytest.mark.parametrize("text", EVALUATED)
def test_evaluated_text_gets_an_apostrophe(text: str) -> None:
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_is_left_alone(text: str) -> None:
    assert neutralise_cell(text) == text


@pytest.mark.parametrize("value", [-1, 2.5, None, True])
def test_values_that_are_not_text_are_left_alone(value: object) -> None:
    assert neutralise_cell(value) is value


def test_dashboard_csv_neutralises_every_cell() -> None:
    text = rows_to_csv(
        ["\uff1dheader", "ok"], [["\u200b=cmd", -1], ["\uff20evil", "fine"], [None, "\ufeff+1"]]
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["'\uff1dheader", "ok"],
        ["'\u200b=cmd", "-1"],
        ["'\uff20evil", "fine"],
        ["", "'\ufeff+1"],
    ]


def test_export_csv_files_neutralise_every_cell(tmp_path: Path) -> None:
    writer = DataWriter(tmp_path, extension="csv", csv_header=["completion", "preference"])
    writer.write_csv("benign/general", "train", ["\u2060\uff0dcmd", -2])
    writer.write_csv("benign/general", "train", ["\uff1d1+1", 1])
    (record,) = writer.close()
    with (tmp_path / record.path).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["completion"] for row in rows] == ["'\u2060\uff0dcmd", "'\uff1d1+1"]
    assert [row["preference"] for row in rows] == ["-2", "1"]
