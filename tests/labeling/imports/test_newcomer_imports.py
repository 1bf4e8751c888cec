"""Imports a newcomer can't get wrong: the XSTest presets with no options (a built-in mapping,
overridable), the format told from the file, and problems grouped with what to do."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.imports.candidates import FORMATS as CANDIDATE_FORMATS
from labeling.imports.candidates import candidate_import
from labeling.imports.common import ImportFailed, detect_format, open_binary
from labeling.imports.prompts import BUILTIN_XSTEST_MAPPING, FORMATS, prompt_import
from labeling.models import Candidate, Prompt

XSTEST = Path(__file__).resolve().parents[3] / "labeling" / "demo_data" / "xstest"
PROMPTS_CSV = XSTEST / "xstest_prompts.csv"
GPT4_CSV = XSTEST / "xstest_v2_completions_gpt4.csv"
HH_LINE = json.dumps(
    {
        "chosen": "\n\nHuman: hi\n\nAssistant: hello",
        "rejected": "\n\nHuman: hi\n\nAssistant: go away",
    }
)


def test_xstest_prompts_import_with_no_options(campaign):
    report = prompt_import(campaign=campaign, source=PROMPTS_CSV)
    assert report.created == 450 and report.file_format == "xstest"
    prompts = Prompt.objects.filter(campaign=campaign)
    by_type = {p.metadata["type"]: (p.category_path, p.intent) for p in prompts}
    for kind, category in BUILTIN_XSTEST_MAPPING["category_by_type"].items():
        intent = "malicious" if kind.startswith("contrast_") else "benign"
        assert by_type[kind] == (category, intent)
    assert prompts.filter(intent="malicious").count() == 200


def test_the_demo_mapping_is_the_built_in_one():
    demo = json.loads((XSTEST / "mapping.json").read_text())
    assert demo["category_by_type"] == BUILTIN_XSTEST_MAPPING["category_by_type"]


def test_a_given_mapping_wins_and_the_built_in_one_fills_in(campaign):
    mapping = {"category_by_type": {"homonyms": "cybersecurity/malware-intrusion"}}
    prompt_import(campaign=campaign, source=PROMPTS_CSV, mapping=mapping)
    homonym = Prompt.objects.get(campaign=campaign, external_id="1")
    assert homonym.category_path == "cybersecurity/malware-intrusion"
    other = Prompt.objects.filter(campaign=campaign, metadata__type="definitions").first()
    assert other.category_path == "benign/general"


def test_a_default_category_wins_over_the_built_in_mapping(campaign):
    prompt_import(campaign=campaign, source=PROMPTS_CSV, default_category="benign/general")
    assert set(Prompt.objects.values_list("category_path", flat=True)) == {"benign/general"}
    # Intents still come from the labels.
    assert Prompt.objects.filter(intent="malicious").count() == 200


def test_xstest_completions_with_no_options_into_an_empty_campaign(campaign):
    report = candidate_import(campaign=campaign, source=GPT4_CSV, filename=str(GPT4_CSV))
    assert report.file_format == "xstest-completions"
    assert report.candidates_created == 450 and report.prompts_created == 450
    prompt = Candidate.objects.get(source="gpt4", prompt__external_id="26").prompt
    assert prompt.metadata["type"] == "contrast_homonyms"
    assert (prompt.category_path, prompt.intent) == (
        "violent-wrongdoing/attack-planning",
        "malicious",
    )


def _detected(data: bytes, name: str, formats: tuple[str, ...] = FORMATS) -> str:
    stream = open_binary(io.BytesIO(data), name=name)
    detected = detect_format(stream, name, formats)
    assert stream.read() == (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return detected


@pytest.mark.parametrize(
    ("data", "name", "formats", "expected"),
    [
        (b"prompt,category\nhi,benign/general\n", "p.csv", FORMATS, "csv"),
        (b'{"prompt": "hi"}\n', "p.jsonl", FORMATS, "jsonl"),
        (b'{"prompt": "hi"}\n', "upload", FORMATS, "jsonl"),
        (b"prompt\nhi\n", "upload", FORMATS, "csv"),
        (b"id,prompt,type,label,focus,note\n1,hi,homonyms,safe,x,y\n", "x.csv", FORMATS, "xstest"),
        (gzip.compress(PROMPTS_CSV.read_bytes()), "prompts.csv.gz", FORMATS, "xstest"),
        (GPT4_CSV.read_bytes(), "whatever.csv", CANDIDATE_FORMATS, "xstest-completions"),
        (gzip.compress(HH_LINE.encode() + b"\n"), "test.jsonl.gz", CANDIDATE_FORMATS, "hh-rlhf"),
        (b'{"prompt": "p", "completion": "c"}\n', "c.jsonl", CANDIDATE_FORMATS, "jsonl"),
        # The name decides the family: a JSONL file whose first line is broken stays JSONL.
        (b"not json\n", "bad.jsonl", FORMATS, "jsonl"),
    ],
)
def test_the_format_is_told_from_name_and_content(data, name, formats, expected):
    assert _detected(data, name, formats) == expected


@pytest.mark.parametrize(
    ("data", "name", "words"),
    [
        (b"[1, 2]\n", "upload", "a JSON array, not JSON lines"),
        (b"", "upload", "the file is empty"),
    ],
)
def test_a_format_that_cannot_be_told_says_why(campaign, data, name, words):
    with pytest.raises(ImportFailed) as failure:
        prompt_import(campaign=campaign, source=io.BytesIO(data), filename=name)
    [problem] = failure.value.problems
    assert problem.field == "format" and words in problem.reason


def test_a_fake_gz_says_not_gzip(campaign):
    with pytest.raises(ImportFailed) as failure:
        prompt_import(campaign=campaign, source=io.BytesIO(b"prompt\nhi\n"), filename="p.csv.gz")
    assert "not gzip" in failure.value.problems[0].reason
    assert failure.value.groups.largest()[0].fix == (
        "compress the file with gzip, or remove .gz from its name"
    )


def test_problems_are_grouped_with_their_fix(campaign):
    rows = "".join(json.dumps({"prompt": f"p{i}", "intent": "benign"}) + "\n" for i in range(450))
    with pytest.raises(ImportFailed) as failure:
        prompt_import(campaign=campaign, source=io.BytesIO(rows.encode()), filename="p.jsonl")
    [group] = failure.value.shown_groups
    assert (group.field, group.count, group.first_lines) == ("category", 450, [1, 2, 3, 4, 5])
    assert group.as_dict()["fix"] == "pass a default category or a mapping"
    assert not Prompt.objects.exists()


def test_the_page_imports_xstest_with_no_options_and_shows_grouped_fixes(campaign, client_for):
    client = client_for("rita")
    url = reverse("labeling:campaign_import_prompts", args=[campaign.slug])
    page = client.get(url).content.decode()
    # The built-in mapping is in the editor, and its table shows where each type lands.
    assert "contrast_privacy" in page and "personal-data/private-individuals" in page
    upload = SimpleUploadedFile("xstest_prompts.csv", PROMPTS_CSV.read_bytes())
    response = client.post(url, {"file": upload, "mapping": "", "format": ""}, follow=True)
    assert "Imported 450 prompt(s) (xstest)" in response.content.decode()
    rows = "".join(json.dumps({"prompt": f"q{i}", "intent": "benign"}) + "\n" for i in range(450))
    upload = SimpleUploadedFile("more.jsonl", rows.encode())
    html = client.post(url, {"file": upload}).content.decode()
    assert '<td class="num">450 rows</td><td>category</td>' in html
    assert "pass a default category or a mapping" in html


def test_the_page_takes_an_edited_mapping_and_refuses_a_bad_one(campaign, client_for):
    client = client_for("rita")
    url = reverse("labeling:campaign_import_prompts", args=[campaign.slug])
    mapping = json.dumps({"category_by_label": {"safe": "chemistry/dual-use"}})
    upload = SimpleUploadedFile("xstest_prompts.csv", PROMPTS_CSV.read_bytes())
    client.post(url, {"file": upload, "mapping": mapping})
    # The uploader's mapping is looked up first (type, then label), then the built-in one.
    assert Prompt.objects.get(external_id="1").category_path == "chemistry/dual-use"
    assert (
        Prompt.objects.get(external_id="26").category_path == "violent-wrongdoing/attack-planning"
    )
    bad = SimpleUploadedFile("xstest_prompts.csv", PROMPTS_CSV.read_bytes())
    response = client.post(url, {"file": bad, "mapping": "types: {a: b}"})
    assert response.status_code == 400
    assert "unknown key(s): types" in response.content.decode()
    mapping_file = SimpleUploadedFile("m.yaml", b"category_by_type: [not, an, object]\n")
    response = client.post(
        url, {"file": SimpleUploadedFile("x.csv", b"a"), "mapping_file": mapping_file}
    )
    assert response.status_code == 400
    assert "category_by_type must be an object" in response.content.decode()


def test_the_mapping_table_follows_the_editor(campaign, client_for):
    url = reverse("labeling:campaign_import_xstest_mapping", args=[campaign.slug])
    mapping = json.dumps({"category_by_type": {"homonyms": "nowhere/at-all"}})
    html = client_for("rita").post(url, {"mapping": mapping}).content.decode()
    row = html[html.index('data-type="homonyms"') :].split("</tr>", 1)[0]
    assert "unknown category" in row and "nowhere/at-all" in row
    row = html[html.index('data-type="definitions"') :].split("</tr>", 1)[0]
    assert "benign/general" in row and ">ok<" in row
    html = client_for("rita").post(url, {"mapping": "{"}).content.decode()
    assert "Mapping: " in html and "not JSON or YAML" in html
    html = client_for("rita").post(url, {"mapping": "", "default_category": "chemistry/dual-use"})
    assert html.content.decode().count("chemistry/dual-use") == len(
        BUILTIN_XSTEST_MAPPING["category_by_type"]
    )
    assert client_for("anna").post(url, {"mapping": ""}).status_code == 403


def test_the_api_takes_a_mapping_and_detects_the_format(campaign, client_for):
    client = client_for("rita")
    url = reverse("api-prompt-import", args=[campaign.slug])
    mapping = json.dumps({"category_by_type": {"homonyms": "chemistry/dual-use"}})
    with PROMPTS_CSV.open("rb") as handle:
        response = client.post(url, {"file": handle, "mapping": mapping})
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "xstest" and response.json()["created"] == 450
    assert Prompt.objects.get(external_id="1").category_path == "chemistry/dual-use"
    with PROMPTS_CSV.open("rb") as handle:
        response = client.post(url, {"file": handle, "mapping": "[1"})
    assert response.status_code == 400 and "mapping" in response.json()
