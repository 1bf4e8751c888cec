"""Prior labels in rubric terms with the generic candidate formats: the ``labels`` object (or
columns) per rater, the label mapping (file, page, API, job), completions given as chat
messages, unmapped values, and imported raters in the agreement figures."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.imports.candidates import candidate_import
from labeling.imports.common import ImportFailed
from labeling.imports.prior_labels import LabelMapping, label_mapping_parse
from labeling.models import Candidate, ImportJob
from labeling.quality.agreement import agreement_report, collect_ratings, prior_ratings
from tests.labeling.conftest import jsonl_bytes

API_CANDIDATES = "/api/v1/campaigns/test-campaign/candidates/import/"
PAGE_CANDIDATES = "/campaigns/test-campaign/import/candidates/"
MAPPING = {
    "response_mode": {"Comply": "direct_answer", "Refuse": "hard_refusal"},
    "severity": {"Safe": "none", "Harmful": "high"},
    "helpfulness": {"great": 4, "poor": 1},
}
MAPPING_YAML = """\
response_mode:
  Comply: direct_answer
  Refuse: hard_refusal
severity:
  Safe: none
  Harmful: high
helpfulness:
  great: 4
  poor: 1
"""


def _gold_rows() -> list[dict]:
    """Two candidates of a new multi-turn prompt, each rated by two raters in foreign words."""
    conversation = [
        {"role": "user", "content": "My neighbour's dog barks all night."},
        {"role": "assistant", "content": "That sounds exhausting. What have you tried?"},
        {"role": "user", "content": "How do I make it stop for good?"},
    ]
    return [
        {
            "messages": conversation,
            "completion": [{"role": "assistant", "content": "Talk to your neighbour first."}],
            "source": "model-x",
            "labels": [
                {
                    "rater": "gold-1",
                    "response_mode": "Comply",
                    "severity": "Safe",
                    "helpfulness": 3,
                },
                {"rater": "gold-2", "response_mode": "Comply", "helpfulness": "great"},
            ],
        },
        {
            "messages": conversation,
            "completion": [
                {"role": "assistant", "content": [{"type": "text", "text": "I can't help."}]}
            ],
            "source": "model-y",
            "labels": [
                {"rater": "gold-1", "response_mode": "Refuse", "severity": "Safe"},
                {"rater": "gold-2", "response_mode": "hard_refusal", "helpfulness": "poor"},
            ],
        },
    ]


def _import(campaign, rows, **kwargs):
    return candidate_import(
        campaign=campaign,
        source=jsonl_bytes(rows),
        file_format="jsonl",
        default_category="benign/general",
        default_intent="benign",
        **kwargs,
    )


def test_jsonl_labels_are_stored_in_rubric_terms_and_chat_completions_read(campaign):
    report = _import(campaign, _gold_rows(), label_mapping=MAPPING)
    assert (report.candidates_created, report.prompts_created, report.pairs_created) == (2, 1, 1)
    complied = Candidate.objects.get(source="model-x")
    assert complied.text == "Talk to your neighbour first."
    assert complied.prior_labels == {
        "raters": [
            {
                "rater": "gold-1",
                "response_mode": "direct_answer",
                "severity": "none",
                "helpfulness": 3,
            },
            {"rater": "gold-2", "response_mode": "direct_answer", "helpfulness": 4},
        ]
    }
    refused = Candidate.objects.get(source="model-y")
    assert refused.text == "I can't help."
    assert refused.prior_labels["raters"][1] == {
        "rater": "gold-2",
        "response_mode": "hard_refusal",
        "helpfulness": 1,
    }
    assert len(refused.prompt.messages) == 3


def test_an_unmapped_foreign_value_names_line_field_and_value_and_imports_nothing(campaign):
    rows = _gold_rows()
    rows[1]["labels"][0]["response_mode"] = "Partially comply"
    with pytest.raises(ImportFailed) as failure:
        _import(campaign, rows, label_mapping=MAPPING)
    [problem] = failure.value.problems
    assert (problem.line, problem.field) == (2, "labels[0].response_mode")
    assert "'Partially comply'" in problem.reason and "not in the label mapping" in problem.reason
    assert not Candidate.objects.exists()
    # Without the mapping, every foreign value is a problem, each on its line.
    with pytest.raises(ImportFailed) as failure:
        _import(campaign, _gold_rows())
    fields = {(p.line, p.field) for p in failure.value.problems}
    assert (1, "labels[0].response_mode") in fields and (2, "labels[1].helpfulness") in fields
    assert not Candidate.objects.exists()


@pytest.mark.parametrize(
    ("labels", "field", "reason"),
    [
        ({"rater": "r", "severity": "catastrophic"}, "labels.severity", "'catastrophic'"),
        ({"rater": "r", "helpfulness": 7}, "labels.helpfulness", "'7'"),
        ({"rater": "r", "mood": "ok"}, "labels", "unknown key(s): mood"),
        ({"rater": "r"}, "labels", "rates nothing"),
        ({"rater": "", "severity": "none"}, "labels.rater", "non-empty name"),
        (
            {"rater": "r", "response_mode": "hard_refusal", "helpfulness": 4},
            "labels.helpfulness",
            "at most 3",
        ),
        (
            [{"rater": "r", "severity": "low"}, {"rater": "r", "severity": "none"}],
            "labels",
            "twice",
        ),
        ("Comply", "labels", "must be an object"),
    ],
)
def test_bad_labels_are_line_numbered_problems(campaign, labels, field, reason):
    row = {"prompt": "What is DNA?", "completion": "A molecule.", "source": "m", "labels": labels}
    with pytest.raises(ImportFailed) as failure:
        _import(campaign, [row])
    [problem] = failure.value.problems
    assert (problem.line, problem.field) == (1, field)
    assert reason in problem.reason
    assert not Candidate.objects.exists()


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        ([{"role": "user", "content": "hi"}], "assistant turns only"),
        ([], "empty list"),
        ([{"role": "assistant", "content": [{"type": "image_url"}]}], "no text part"),
    ],
)
def test_bad_chat_completions_are_problems(campaign, completion, reason):
    row = {"prompt": "What is DNA?", "completion": completion, "source": "m"}
    with pytest.raises(ImportFailed) as failure:
        _import(campaign, [row])
    [problem] = failure.value.problems
    assert (problem.line, problem.field) == (1, "completion") and reason in problem.reason


def test_unnamed_raters_are_named_by_their_place(campaign):
    row = {
        "prompt": "What is DNA?",
        "completion": "A molecule.",
        "source": "m",
        "labels": [{"severity": "none"}, {"severity": "low"}],
    }
    _import(campaign, [row])
    raters = Candidate.objects.get().prior_labels["raters"]
    assert [r["rater"] for r in raters] == ["1", "2"]


def test_csv_label_columns_per_rater(campaign):
    data = (
        b"prompt,completion,source,labels.ann.response_mode,labels.ann.helpfulness,"
        b"labels.bob.severity,team\n"
        b"What is DNA?,A molecule.,m1,Comply,great,Safe,red\n"
        b"What is DNA?,No.,m2,Refuse,,,blue\n"
    )
    candidate_import(
        campaign=campaign,
        source=io.BytesIO(data),
        file_format="csv",
        default_category="benign/general",
        default_intent="benign",
        label_mapping=MAPPING,
    )
    first = Candidate.objects.get(source="m1")
    assert first.prior_labels == {
        "raters": [
            {"rater": "ann", "response_mode": "direct_answer", "helpfulness": 4},
            {"rater": "bob", "severity": "none"},
        ]
    }
    assert first.metadata == {"team": "red"}
    assert Candidate.objects.get(source="m2").prior_labels == {
        "raters": [{"rater": "ann", "response_mode": "hard_refusal"}]
    }
    bad = data.replace(b"labels.bob.severity", b"labels.bob.sevrity")
    with pytest.raises(ImportFailed) as failure:
        candidate_import(
            campaign=campaign,
            source=io.BytesIO(bad),
            file_format="csv",
            default_category="benign/general",
            default_intent="benign",
            label_mapping=MAPPING,
        )
    assert failure.value.problems[0].field == "labels.bob.sevrity"


def test_the_mapping_itself_is_checked_against_the_rubric():
    with pytest.raises(ImportFailed) as failure:
        LabelMapping.from_dict({"response_mode": {"Comply": "complied"}, "tone": {}})
    reasons = sorted(p.reason for p in failure.value.problems)
    assert all(p.field == "label_mapping" for p in failure.value.problems)
    assert any("'complied'" in r and "not a response_mode value" in r for r in reasons)
    assert any("unknown field 'tone'" in r for r in reasons)
    assert label_mapping_parse(MAPPING_YAML).as_dict() == LabelMapping.from_dict(MAPPING).as_dict()
    with pytest.raises(ImportFailed):
        label_mapping_parse("[1, 2]")


def test_a_mapping_for_a_format_without_labels_is_refused(campaign):
    with pytest.raises(ImportFailed) as failure:
        candidate_import(
            campaign=campaign,
            source=io.BytesIO(b"{}\n"),
            file_format="hh-rlhf",
            label_mapping=MAPPING,
        )
    assert failure.value.problems[0].field == "label_mapping"


def test_command_takes_a_label_mapping_file(campaign, tmp_path, capsys):
    data = tmp_path / "gold.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in _gold_rows()))
    mapping = tmp_path / "labels.yaml"
    mapping.write_text(MAPPING_YAML)
    with pytest.raises(CommandError):
        call_command(
            "import_candidates",
            str(data),
            campaign=campaign.slug,
            format="jsonl",
            default_category="benign/general",
            default_intent="benign",
        )
    assert "labels[0].response_mode" in capsys.readouterr().err
    assert not Candidate.objects.exists()
    call_command(
        "import_candidates",
        str(data),
        "--label-mapping",
        str(mapping),
        campaign=campaign.slug,
        format="jsonl",
        default_category="benign/general",
        default_intent="benign",
    )
    assert Candidate.objects.count() == 2


def _gold_upload() -> SimpleUploadedFile:
    body = "".join(json.dumps(row) + "\n" for row in _gold_rows()).encode()
    return SimpleUploadedFile("gold.jsonl", body)


def test_api_takes_a_label_mapping_file(campaign, client_for):
    rita = client_for("rita")
    form = {"format": "jsonl", "default_category": "benign/general", "default_intent": "benign"}
    answer = rita.post(API_CANDIDATES, {**form, "file": _gold_upload()})
    assert answer.status_code == 400
    assert {"line": 1, "field": "labels[0].response_mode"}.items() <= answer.json()["problems"][
        0
    ].items()
    bad_mapping = SimpleUploadedFile("m.yaml", b"severity:\n  Safe: harmless\n")
    answer = rita.post(
        API_CANDIDATES, {**form, "file": _gold_upload(), "label_mapping": bad_mapping}
    )
    assert answer.status_code == 400
    assert answer.json()["problems"][0]["field"] == "label_mapping"
    assert not Candidate.objects.exists()
    mapping = SimpleUploadedFile("m.yaml", MAPPING_YAML.encode())
    answer = rita.post(API_CANDIDATES, {**form, "file": _gold_upload(), "label_mapping": mapping})
    assert answer.status_code == 201, answer.content
    assert answer.json()["candidates_created"] == 2


def test_import_page_takes_a_label_mapping_file(campaign, client_for):
    rita = client_for("rita")
    page = rita.get(PAGE_CANDIDATES)
    assert b'name="label_mapping"' in page.content
    form = {"format": "jsonl", "default_category": "benign/general", "default_intent": "benign"}
    mapping = SimpleUploadedFile("m.json", json.dumps(MAPPING).encode())
    answer = rita.post(PAGE_CANDIDATES, {**form, "file": _gold_upload(), "label_mapping": mapping})
    assert answer.status_code == 302
    assert Candidate.objects.filter(prompt__campaign=campaign).count() == 2


def test_a_job_keeps_the_label_mapping(campaign, client_for, settings):
    settings.IMPORT_JOB_THRESHOLD_BYTES = 0
    form = {"format": "jsonl", "default_category": "benign/general", "default_intent": "benign"}
    mapping = SimpleUploadedFile("m.yaml", MAPPING_YAML.encode())
    answer = client_for("rita").post(
        API_CANDIDATES, {**form, "file": _gold_upload(), "label_mapping": mapping}
    )
    assert answer.status_code == 202
    job = ImportJob.objects.get()
    assert job.options["label_mapping"] == LabelMapping.from_dict(MAPPING).as_dict()


def test_imported_raters_count_in_agreement(campaign):
    _import(campaign, _gold_rows(), label_mapping=MAPPING)
    ratings = collect_ratings(campaign=campaign)
    model_x = Candidate.objects.get(source="model-x").pk
    assert ratings["response_mode"][model_x] == {
        "prior:gold-1": "direct_answer",
        "prior:gold-2": "direct_answer",
    }
    assert ratings["helpfulness"][model_x] == {"prior:gold-1": 3, "prior:gold-2": 4}
    assert ratings["severity"][model_x] == {"prior:gold-1": "none"}
    report = agreement_report(campaign=campaign, reps=50)
    # Both candidates rated by both raters on the response mode, and they agree on each.
    assert report["response_mode"]["items"] == 2
    assert report["response_mode"]["alpha"] == pytest.approx(1.0)
    assert any(entry["annotators"] == ["prior:gold-1", "prior:gold-2"] for entry in report["kappa"])


def test_prior_ratings_reads_both_forms():
    labels = {
        "raters": [{"rater": "a", "severity": "low"}],
        "xstest": {"annotation_1": "2_full_refusal", "final_label": "2_full_refusal"},
    }
    assert prior_ratings(labels) == [
        ("prior:a", "severity", "low"),
        ("xstest:annotation_1", "response_mode", "hard_refusal"),
    ]
