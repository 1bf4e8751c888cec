"""Untrusted text rendering: the plain-prose shortcut says exactly what the pipeline says."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from labeling.annotation import rendering

XSTEST = (
    Path(rendering.__file__).resolve().parents[1] / "demo_data" / "xstest" / "xstest_prompts.csv"
)
PUNCTUATION = " ,.;:?!'\"()/%$@=+-"


def _texts() -> list[str]:
    with XSTEST.open(newline="", encoding="utf-8") as handle:
        texts = [row["prompt"] for row in csv.DictReader(handle)]
    # Every allowed character at the start, inside and at the end of a word, doubled as well.
    for mark, double in itertools.product(PUNCTUATION, (1, 2)):
        marks = mark * double
        texts += [f"Ask{marks}", f"Ask {marks}why", f"Ask{marks}why{marks}not", f"A{marks}"]
    return texts


def test_plain_prose_shortcut_matches_the_markdown_pipeline() -> None:
    shortcut = 0
    for text in _texts():
        expected = rendering._render_inert(text)
        assert rendering.render_untrusted(text) == expected, text
        shortcut += bool(rendering._PLAIN_PROSE.fullmatch(text))
    assert shortcut > 300  # most XSTest prompts are plain prose and take the shortcut


def test_markup_takes_the_pipeline() -> None:
    for text in (
        "*bold*",
        "1. first",
        "# title",
        "a <b>tag</b>",
        "x & y",
        "Ask `code`",
        "Ask\nmore",
    ):
        assert not rendering._PLAIN_PROSE.fullmatch(text)
        assert rendering.render_untrusted(text) == rendering._render_inert(text)
    assert "<script" not in rendering.render_untrusted("Hi <script>alert(1)</script>")
