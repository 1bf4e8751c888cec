"""Untrusted text rendering: the plain-prose shortcut says exactly what the pipeline says."""

from __future__ import annotations

import csv
import itertools
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.demo import DEMO_DATA
from labeling.models import Candidate, Prompt
from presentation import untrusted_text as rendering

XSTEST = DEMO_DATA / "xstest_prompts.csv"
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


@pytest.fixture
def prompt(campaign):
    return Prompt.objects.create(
        campaign=campaign,
        messages=[{"role": "user", "content": "Hi"}],
        category_path="benign/general",
        intent="benign",
        content_hash="rendering",
    )


@pytest.mark.django_db
def test_stored_html_is_used_only_from_this_renderer(prompt):
    """A candidate keeps its rendering when saved; a page uses it while the renderer that made
    it is this one, and renders the text again otherwise (older rows, older rules)."""
    candidate = Candidate.objects.create(
        prompt=prompt, text="**Bold** <img src=x onerror=alert(1)>", source="m",
        idempotency_key="stored-html",
    )  # fmt: skip
    candidate.refresh_from_db()
    assert candidate.html_renderer == rendering.RENDERER
    assert candidate.html == rendering.render_untrusted(candidate.text)
    assert "<strong>Bold</strong>" in candidate.html and "<img" not in candidate.html
    # Saving a new text renders it again, also with update_fields.
    candidate.text = "*changed*"
    candidate.save(update_fields=["text"])
    candidate.refresh_from_db()
    assert candidate.html == "<p><em>changed</em></p>"
    # What a page shows: the stored HTML from this renderer, a new rendering from any other.
    stored = SimpleNamespace(text="*text*", html="<p>as stored</p>", html_renderer=0)
    stored.html_renderer = rendering.RENDERER
    assert rendering.candidate_html(stored) == "<p>as stored</p>"
    for older in (0, rendering.RENDERER - 1):
        stored.html_renderer = older
        assert rendering.candidate_html(stored) == "<p><em>text</em></p>"


@pytest.mark.django_db
def test_render_candidates_command_fills_missing_and_stale_html(prompt, capsys):
    Candidate.objects.bulk_create(
        Candidate(prompt=prompt, text=f"*answer {index}*", source="m", idempotency_key=f"r{index}")
        for index in range(7)
    )  # bulk writes skip save(): no HTML yet
    fresh = Candidate.objects.create(
        prompt=prompt, text="kept", source="m", idempotency_key="r-fresh"
    )
    Candidate.objects.filter(pk=fresh.pk).update(html="<p>kept as stored</p>")
    stale = Candidate.objects.filter(idempotency_key="r0")
    stale.update(html="<p>older</p>", html_renderer=rendering.RENDERER - 1)
    call_command("render_candidates", "--batch-size", "3")
    assert capsys.readouterr().out.strip() == "Rendered 7 candidate(s)."
    for candidate in Candidate.objects.exclude(pk=fresh.pk):
        assert candidate.html_renderer == rendering.RENDERER
        assert candidate.html == rendering.render_untrusted(candidate.text)
    # A row already from this renderer is left as it is.
    assert Candidate.objects.get(pk=fresh.pk).html == "<p>kept as stored</p>"
    call_command("render_candidates")
    assert capsys.readouterr().out.strip() == "Rendered 0 candidate(s)."
    with pytest.raises(CommandError):
        call_command("render_candidates", "--batch-size", "0")
