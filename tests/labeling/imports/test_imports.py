"""Prompt and candidate import: every format, the real public files, every bad-input case."""

from __future__ import annotations

import gc
import gzip
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.imports.candidates import candidate_import
from labeling.imports.common import MAX_TEXT_CHARS, ImportFailed
from labeling.imports.prompts import prompt_import
from labeling.models import Candidate, Pair, Prompt
from presentation.untrusted_text import RENDERER, render_untrusted
from tests.labeling.conftest import jsonl_bytes

XSTEST_MAPPING = {
    "category_by_label": {"safe": "benign/general", "unsafe": "violent-wrongdoing/threats"},
}


def _fails(campaign, data: bytes, file_format: str, **kwargs) -> list:
    with pytest.raises(ImportFailed) as caught:
        prompt_import(campaign=campaign, source=io.BytesIO(data), file_format=file_format, **kwargs)
    assert Prompt.objects.filter(campaign=campaign).count() == 0
    return [(p.line, p.field) for p in caught.value.problems]


def test_jsonl_single_and_multi_turn_and_duplicates(campaign):
    rows = [
        {
            "prompt": "What is DNA?",
            "category": "biology/low-risk-dual-use",
            "intent": "benign",
            "external_id": "a",
            "metadata": {"origin": "x"},
        },
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "How are vaccines made?"},
            ],
            "category": "low-risk-dual-use",
            "intent": "dual-use",
        },
        {"prompt": "  What is   DNA? ", "category": "benign/general", "intent": "benign"},
    ]
    report = prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    assert (report.created, report.duplicates) == (2, 1)
    multi = Prompt.objects.get(campaign=campaign, external_id=None)
    assert multi.category_path == "biology/low-risk-dual-use" and multi.intent == "dual_use"
    assert len(multi.messages) == 4
    assert Prompt.objects.get(external_id="a").metadata == {"origin": "x"}
    again = prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    assert (again.created, again.duplicates) == (0, 3)


def test_gzip_jsonl_and_csv_with_metadata(campaign):
    rows = [{"prompt": f"Prompt {i}", "external_id": str(i)} for i in range(50)]
    data = gzip.compress(jsonl_bytes(rows).getvalue())
    report = prompt_import(
        campaign=campaign,
        source=io.BytesIO(data),
        filename="p.jsonl.gz",
        default_category="benign/general",
        default_intent="benign",
    )
    assert report.created == 50
    csv_data = (
        b"prompt,category,intent,external_id,team\n"
        b'"Line one, with comma",benign/general,benign,c1,red\n'
        b'"Multi\nline prompt",chemistry/dual-use,dual_use,c2,blue\n'
    )
    report = prompt_import(campaign=campaign, source=io.BytesIO(csv_data), file_format="csv")
    assert report.created == 2
    assert Prompt.objects.get(external_id="c2").metadata == {"team": "blue"}
    assert Prompt.objects.get(external_id="c2").messages[0]["content"] == "Multi\nline prompt"


def test_xstest_preset_reads_the_real_file(campaign, shared_data):
    report = prompt_import(
        campaign=campaign,
        source=shared_data / "xstest" / "xstest_prompts.csv",
        file_format="xstest",
        mapping=XSTEST_MAPPING,
    )
    assert report.created == 450
    prompt = Prompt.objects.get(campaign=campaign, external_id="1")
    assert prompt.metadata["type"] == "homonyms" and prompt.metadata["label"] == "safe"
    assert prompt.intent == "benign" and prompt.category_path == "benign/general"
    assert Prompt.objects.filter(campaign=campaign, intent="malicious").count() == 200


def test_every_bad_line_is_reported_and_nothing_imported(campaign):
    good = json.dumps(
        {"prompt": "fine", "category": "benign/general", "intent": "benign", "external_id": "dup"}
    )
    lines = [
        good,  # 1 ok
        '{"prompt": "broken",',  # 2 malformed
        json.dumps({"category": "benign/general", "intent": "benign"}),  # 3 missing
        json.dumps({"prompt": "x", "category": "nope/none", "intent": "benign"}),  # 4 category
        json.dumps({"prompt": "y", "category": "benign/general", "intent": "evil"}),  # 5 intent
        json.dumps(
            {"prompt": "z", "category": "benign/general", "intent": "benign", "external_id": "dup"}
        ),  # 6 duplicate id
        json.dumps(
            {"prompt": "w" * (MAX_TEXT_CHARS + 1), "category": "benign/general", "intent": "benign"}
        ),  # 7 too long
        json.dumps(
            {"prompt": "v", "colour": "red", "category": "benign/general", "intent": "benign"}
        ),  # 8 unknown field
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ],
                "category": "benign/general",
                "intent": "benign",
            }
        ),  # 9 ends assistant
    ]
    data = ("\n".join(lines) + "\n").encode() + b"\xff\xfe bad bytes\n"  # 10 encoding
    problems = _fails(campaign, data, "jsonl")
    reported_lines = sorted({line for line, _ in problems})
    assert reported_lines == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    fields = dict(problems)
    assert fields[4] == "category" and fields[5] == "intent" and fields[6] == "external_id"


def test_stored_text_round_trips_through_copy(campaign):
    # Backslashes, tabs, newlines, quotes and non-ASCII reach the database byte for byte.
    tricky = 'C:\\temp\\new\ttab "quoted" \\N caf\u00e9 \u0436 \U0001f600 \x7f'
    rows = [
        {
            "prompt": tricky,
            "category": "benign/general",
            "intent": "benign",
            "external_id": "id\twith\ttabs\\and\nnewline\r",
            "metadata": {"path": "a\\b", "nested": [{"t": "x\ty"}], "\\N": None, "n": 1.5},
        },
        {"prompt": "plain", "category": "general", "intent": "benign", "external_id": "\\N"},
        {"prompt": "no id", "category": "benign/general", "intent": "benign"},
    ]
    report = prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    assert report.created == 3
    first = Prompt.objects.get(campaign=campaign, external_id="id\twith\ttabs\\and\nnewline")
    assert first.messages == [{"role": "user", "content": tricky.strip()}]
    assert first.metadata == rows[0]["metadata"]
    assert (
        Prompt.objects.get(campaign=campaign, external_id="\\N").messages[0]["content"] == "plain"
    )
    assert Prompt.objects.get(campaign=campaign, external_id=None).metadata == {}


def test_quick_and_full_checks_agree(campaign):
    # The same prompts spelled every accepted way: slugs, intent variants, numeric ids,
    # padding, a default category; all stored in their canonical form.
    rows = [
        {"prompt": " Padded ", "category": "general", "intent": "Dual-Use", "external_id": 7},
        {
            "prompt": "Slash",
            "category": "/benign/general/",
            "intent": "benign",
            "external_id": " x ",
        },
        {"prompt": "Default", "intent": "malicious", "metadata": {}},
        {"prompt": "Cafe\u0301", "category": "general", "intent": "dual use"},
    ]
    report = prompt_import(
        campaign=campaign,
        source=jsonl_bytes(rows * 2),
        file_format="jsonl",
        default_category="benign/general",
    )
    assert (report.created, report.duplicates) == (4, 4)
    stored = {p.messages[0]["content"]: p for p in Prompt.objects.filter(campaign=campaign)}
    assert set(stored) == {"Padded", "Slash", "Default", "Caf\u00e9"}
    assert stored["Padded"].external_id == "7" and stored["Padded"].intent == "dual_use"
    assert stored["Slash"].external_id == "x"
    assert {p.category_path for p in stored.values()} == {"benign/general"}


def test_duplicates_across_batches(campaign, monkeypatch):
    monkeypatch.setattr("labeling.imports.prompts.BATCH_SIZE", 3)
    # Every clash is reported, in any batch, even after the first bad line.
    rows = [
        {"prompt": f"P{i}", "category": "benign/general", "intent": "benign", "external_id": "e"}
        for i in range(8)
    ]
    problems = _fails(campaign, jsonl_bytes(rows).getvalue(), "jsonl")
    assert problems == [(line, "external_id") for line in range(2, 9)]
    rows = [
        {"prompt": f"Prompt {i % 5}", "category": "benign/general", "intent": "benign"}
        for i in range(12)
    ]
    report = prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    assert (report.created, report.duplicates) == (5, 7)


def test_rows_written_meanwhile_fail_cleanly(campaign, monkeypatch):
    # A row the duplicate check cannot see (as if another import wrote it at the same time)
    # is stopped by the unique constraint: a clear failure, nothing imported.
    monkeypatch.setattr("labeling.imports.prompts.BATCH_SIZE", 2)
    monkeypatch.setattr(
        "labeling.imports.prompts._SeenFilter.which_may_have", lambda self, keys: set()
    )
    rows = [{"prompt": text, "category": "benign/general", "intent": "benign"} for text in "ABA"]
    with pytest.raises(ImportFailed) as caught:
        prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    assert "changed while the file was being imported" in caught.value.problems[0].reason
    assert not Prompt.objects.filter(campaign=campaign).exists()


def test_cycle_collector_is_back_after_an_import(campaign):
    # The import pauses Python's cycle collector while it runs, and gives it back either way.
    assert gc.isenabled()
    assert _fails(campaign, b"not json\n", "jsonl")
    assert gc.isenabled()
    rows = [{"prompt": "fine", "category": "benign/general", "intent": "benign"}]
    prompt_import(campaign=campaign, source=jsonl_bytes(rows), file_format="jsonl")
    assert gc.isenabled()


def test_nul_characters_are_reported(campaign, monkeypatch):
    ok = {"category": "benign/general", "intent": "benign"}
    rows = [
        {"prompt": "fine", **ok},
        {"prompt": "a\u0000b", **ok},
        {"prompt": "c", "external_id": "x\u0000", **ok},
        {"prompt": "d", "metadata": {"k": ["\u0000"]}, **ok},
        {"messages": [{"role": "user", "content": "\u0000"}], **ok},
        {"prompt": "e", "metadata": {"literal": "\\u0000 is fine"}, **ok},
    ]
    problems = _fails(campaign, jsonl_bytes(rows).getvalue(), "jsonl")
    assert problems == [(2, "prompt"), (3, "external_id"), (4, "metadata"), (5, "messages")]

    # Bad rows filling whole batches do not end the reading early.
    monkeypatch.setattr("labeling.imports.prompts.BATCH_SIZE", 2)
    rows = [{"prompt": f"p{i}", "metadata": {"k": "\u0000"}, **ok} for i in range(3)]
    rows += [{"prompt": "q", "external_id": "x", **ok}, {"prompt": "r", "external_id": "x", **ok}]
    problems = _fails(campaign, jsonl_bytes(rows).getvalue(), "jsonl")
    assert problems == [(1, "metadata"), (2, "metadata"), (3, "metadata"), (5, "external_id")]


@pytest.mark.parametrize(
    ("data", "file_format"),
    [
        (b"", "jsonl"),
        (b"\n\n", "csv"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "jsonl"),
        (b"text,category\nhello,benign/general\n", "csv"),
        (b"prompt,category,intent\nhello,benign/general\n", "csv"),
        (b"[1, 2, 3]\n", "jsonl"),
    ],
    ids=["empty", "blank-csv", "binary", "missing-column", "short-row", "not-object"],
)
def test_bad_files(campaign, data, file_format):
    assert _fails(campaign, data, file_format)


def test_gzip_truncated_is_reported(campaign):
    data = gzip.compress(
        jsonl_bytes(
            [{"prompt": "a", "category": "benign/general", "intent": "benign"}] * 3
        ).getvalue()
    )
    assert _fails(campaign, data[:-10], "jsonl")


def test_command_exits_non_zero_with_every_line(campaign, tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"prompt": "ok", "category": "benign/general", "intent": "benign"}\n'
        '{"prompt": 1}\nnot json\n'
    )
    with pytest.raises(CommandError):
        call_command("import_prompts", str(path), campaign=campaign.slug)
    err = capsys.readouterr().err
    assert "line 2" in err and "line 3" in err
    assert Prompt.objects.count() == 0
    good = tmp_path / "good.csv"
    good.write_text("prompt\nhello\n")
    call_command(
        "import_prompts",
        str(good),
        campaign=campaign.slug,
        default_category="general",
        default_intent="benign",
    )
    assert Prompt.objects.get().category_path == "benign/general"


def test_xstest_completions_five_sources(campaign, shared_data):
    folder = shared_data / "xstest"
    prompt_import(
        campaign=campaign,
        source=folder / "xstest_prompts.csv",
        file_format="xstest",
        mapping=XSTEST_MAPPING,
    )
    for model in ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct"):
        path = folder / f"xstest_v2_completions_{model}.csv"
        report = candidate_import(
            campaign=campaign, source=path, filename=str(path), file_format="xstest-completions"
        )
        assert report.candidates_created == 450 and report.prompts_created == 0
    assert Candidate.objects.filter(prompt__campaign=campaign).count() == 2250
    assert Pair.objects.filter(prompt__campaign=campaign).count() == 4500
    candidate = Candidate.objects.get(prompt__external_id="1", source="gpt4")
    labels = candidate.prior_labels["xstest"]
    assert set(labels) == {"annotation_1", "annotation_2", "agreement", "final_label"}
    # Stored with its inert HTML (the completion is markdown: a list, code, bold).
    assert candidate.html_renderer == RENDERER
    assert candidate.html == render_untrusted(candidate.text) and "<li>" in candidate.html
    assert not Candidate.objects.exclude(html_renderer=RENDERER).exists()
    again = candidate_import(
        campaign=campaign,
        source=folder / "xstest_v2_completions_gpt4.csv",
        file_format="xstest-completions",
        source_name="gpt4",
    )
    assert again.candidates_created == 0 and again.candidate_duplicates == 450


def test_hh_rlhf_conversations_with_prior_preference(campaign, shared_data):
    path = shared_data / "hh-rlhf-harmless-test" / "test.jsonl.gz"
    report = candidate_import(
        campaign=campaign,
        source=path,
        file_format="hh-rlhf",
        default_category="benign/general",
        default_intent="dual_use",
    )
    assert len(report.reported) == 5
    assert all("differ before the last" in p.reason for p in report.reported)
    assert report.candidates_created + report.candidate_duplicates == 2 * 2307
    pairs = Pair.objects.filter(prompt__campaign=campaign, prior_preference__isnull=False)
    assert pairs.count() >= 2200
    pair = pairs.select_related("candidate_a", "candidate_b").first()
    chosen = pair.candidate_a if pair.prior_preference < 0 else pair.candidate_b
    assert chosen.source == "hh-rlhf:chosen"
    assert Prompt.objects.filter(campaign=campaign, messages__len__gt=1).exists() or any(
        len(p.messages) > 1 for p in Prompt.objects.filter(campaign=campaign)[:200]
    )


def test_candidate_bad_lines(campaign_with_pairs):
    before = Candidate.objects.count()
    rows = jsonl_bytes(
        [
            {"external_id": "p1", "source": "m", "completion": "ok"},
            {"external_id": "missing", "source": "m", "completion": "x"},
            {"external_id": "p2", "completion": "no source"},
            {"external_id": "p2", "source": "m"},
            {"external_id": "p1", "source": "m", "completion": "a\u0000b"},
            {"external_id": "p1", "source": "m\u0000", "completion": "fine"},
            {"external_id": "p1", "source": "m", "completion": "fine", "metadata": {"k": "\u0000"}},
        ]
    )
    with pytest.raises(ImportFailed) as caught:
        candidate_import(campaign=campaign_with_pairs, source=rows, file_format="jsonl")
    assert sorted({p.line for p in caught.value.problems}) == [2, 3, 4, 5, 6, 7]
    # A NUL character is named with its line and field, not left to fail in the database.
    nul = {(p.line, p.field) for p in caught.value.problems if "NUL" in p.reason}
    assert nul == {(5, "completion"), (6, "source"), (7, "metadata")}
    assert Candidate.objects.count() == before


def test_candidate_command_exits_non_zero_with_every_line(campaign_with_pairs, tmp_path, capsys):
    before = Candidate.objects.count()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"external_id": "p1", "source": "m", "completion": "ok"}\n'
        '{"external_id": "missing", "source": "m", "completion": "x"}\n'
        "not json\n"
    )
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command(
            "import_candidates", str(bad), campaign=campaign_with_pairs.slug, format="jsonl"
        )
    err = capsys.readouterr().err
    assert "line 2" in err and "line 3" in err
    assert Candidate.objects.count() == before
    with pytest.raises(CommandError, match="cannot read"):
        call_command(
            "import_candidates",
            str(tmp_path / "absent.jsonl"),
            campaign=campaign_with_pairs.slug,
            format="jsonl",
        )
    good = tmp_path / "good.jsonl"
    good.write_text('{"external_id": "p1", "source": "other-model", "completion": "fine"}\n')
    call_command("import_candidates", str(good), campaign=campaign_with_pairs.slug, format="jsonl")
    assert "Imported 1 candidate(s)" in capsys.readouterr().out
    assert Candidate.objects.count() == before + 1
