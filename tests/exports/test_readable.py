"""The export pages and the dataset card show words, not the manifest's codes: settings by the
export form's labels with their values as text (no Python lists, dicts, None or True), and the
reasons a pair was left out as words. The manifest and the API keep the codes."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.urls import reverse

from exports.learnability.services import export_learnability_run
from exports.services import export_folder

pytestmark = pytest.mark.django_db

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
REPR = re.compile(r"\[\'|\{\'|\bNone\b|\bTrue\b|\bFalse\b")


def visible_text(markup: str) -> str:
    markup = re.sub(r"<(script|style|code)[^>]*>.*?</\1>", " ", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_export_page_shows_settings_and_reasons_as_words(
    hand: dict[str, Any], run_export: Any, client_for: Any
) -> None:
    export = run_export(format="trl-preference", intents=["dual_use", "benign", "malicious"])
    assert export.status == "completed", export.error
    assert export.manifest["counts"]["left_out"]["discarded_by_review"] == 1
    page = client_for("rita").get(reverse("exports:detail", args=[export.id])).content.decode()
    settings = visible_text(section(page, "Selection and settings", "</dl>"))
    assert not SNAKE.findall(settings) and not REPR.findall(settings), settings
    assert re.search(r"Labels to trust\s+raw, review", settings)
    assert re.search(r"Intents\s+Benign, Dual-use, Malicious", settings)
    assert re.search(r"Split shares\s+[^A-Z]*train 0\.9", settings)
    assert re.search(r"KTO threshold\s+0\.5", settings)
    assert re.search(r"Pseudonymise annotators\s+yes", settings)
    assert re.search(r"Grader\s+—", settings)
    reasons = visible_text(section(page, "Left out because", "</table>"))
    assert "discarded by review" in reasons and not SNAKE.findall(reasons), reasons
    # The manifest keeps the codes.
    assert "discarded_by_review" in export.manifest["counts"]["left_out"]


def test_preview_names_reasons_in_words(hand: dict[str, Any], client_for: Any) -> None:
    answer = client_for("rita").post(
        reverse("exports:preview"),
        {
            "format": "trl-preference",
            "campaigns": ["hand"],
            "min_judgments": 1,
            "min_agreement": 0,
            "label_sources": ["raw", "review"],
            "preference_source": "human",
            "min_margin": 0,
            "sft_threshold": 0.66,
            "kto_threshold": 0.5,
            "train": 0.9,
            "validation": 0.05,
            "test": 0.05,
            "seed": 1234,
            "archive_format": "tar.gz",
        },
    )
    reasons = visible_text(section(answer.content.decode(), "Left out because", "</table>"))
    assert "too few judgments" in reasons and "discarded by review" in reasons
    assert not SNAKE.findall(reasons), reasons


def test_dataset_card_counts_agreement_and_learnability_in_words(
    hand: dict[str, Any], run_export: Any
) -> None:
    export = run_export(format="trl-preference", min_judgments=3)
    card = (export_folder(export) / "README.md").read_text()
    assert "- Pending: computed by a worker" in card
    export = export_learnability_run(export_id=export.id)
    card = (export_folder(export) / "README.md").read_text()
    counts = section(card, "## Counts", "## Files")
    assert "discarded by review 1" in counts
    assert not SNAKE.findall(counts) and not REPR.findall(counts), counts
    assert "Severity (ordinal alpha):" in counts and "Preference (interval alpha):" in counts
    assert "- Not computed: too few preference pairs" in counts
    # The manifest keeps the codes.
    assert export.manifest["learnability"]["status"] == "too_few_pairs"


def test_import_form_names_intents_by_their_label(hand: dict[str, Any], client_for: Any) -> None:
    page = client_for("rita").get(reverse("labeling:campaign_detail", args=["hand"]))
    intents = re.search(
        r'<select name="default_intent"[^>]*>(.*?)</select>', page.content.decode(), re.S
    )
    assert intents is not None
    labels = re.findall(r"<option[^>]*>([^<]*)</option>", intents.group(1))
    assert labels == ["—", "Benign", "Dual-use", "Malicious"]
