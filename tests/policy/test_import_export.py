"""Import and export as JSON and YAML: round trips, bad files, the management commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command

from policy import services
from policy.document import PolicyError, dump_document, parse_document
from policy.models import Category, PolicyChange, PolicyVersion
from policy.selectors import export_for

pytestmark = pytest.mark.django_db

SMALL = {
    "categories": [
        {"slug": "cyber", "name": "Cyber", "parent": None},
        {"slug": "intrusion", "name": "Intrusion", "parent": "cyber",
         "guidance": {"high": "Working exploits."}, "examples_unacceptable": ["ransomware"]},
        {"slug": "benign", "name": "Benign", "parent": None, "order": 1},
        {"slug": "general", "name": "General", "parent": "benign", "active": False},
    ],
    "rubric": "# Rubric\nJudge the output.",
    "severity_to_safety": {"none": 1, "negligible": 0.9, "low": 0.5, "moderate": 0.1, "high": 0},
    "levels": {"helpfulness": {"1": "Not helpful."}},
}  # fmt: skip


@pytest.mark.parametrize("file_format", ["json", "yaml"])
def test_import_export_import_round_trip_is_identical(
    seeded: None, personas: dict, file_format: str
) -> None:
    alice = personas["alice"]
    result = services.policy_import(user=alice, document=SMALL)
    assert result.categories == 4
    assert sorted(Category.objects.values_list("path", flat=True)) == [
        "benign", "benign/general", "cyber", "cyber/intrusion",
    ]  # fmt: skip
    first = dump_document(export_for(None), file_format)
    services.policy_import(user=alice, document=parse_document(first, file_format))
    second = dump_document(export_for(None), file_format)
    assert first == second
    # The export is the import, made explicit (paths, defaults, uids).
    exported = parse_document(first, file_format)
    assert exported["format"] == "graylab-policy" and exported["policy_version"] is None
    assert exported["severity_to_safety"]["negligible"] == 0.9
    intrusion = next(c for c in exported["categories"] if c["path"] == "cyber/intrusion")
    assert intrusion["guidance"] == {"high": "Working exploits."}
    assert intrusion["examples_unacceptable"] == ["ransomware"]
    # Publishing after the import gives the imported taxonomy as the next version.
    version = services.policy_publish(user=alice, notes="imported")
    assert version.leaf_paths() == ["cyber/intrusion"]


def test_published_version_round_trips_through_a_file(seeded: None, personas: dict) -> None:
    text = dump_document(export_for(1), "yaml")
    services.policy_import(user=personas["alice"], document=parse_document(text, "yaml"))
    version = services.policy_publish(user=personas["alice"], notes="same again")
    assert version.snapshot == PolicyVersion.objects.get(number=1).snapshot


def test_import_keeps_identity_and_records_history(seeded: None, personas: dict) -> None:
    uid = Category.objects.get(path="benign/general").uid
    document = export_for(None)
    for entry in document["categories"]:
        entry.pop("uid")
        if entry["path"] == "benign/general":
            entry["name"] = "Everyday"
    services.policy_import(user=personas["alice"], document=document)
    general = Category.objects.get(path="benign/general")
    assert general.uid == uid  # matched by path when the file has no uid
    assert PolicyChange.objects.filter(category_uid=uid, action="imported").exists()


def invalid(document: Any) -> list[str]:
    with pytest.raises(PolicyError) as error:
        services.policy_import(user=None, document=document)
    assert all(reason for _, reason in error.value.errors)
    return [field for field, _ in error.value.errors]


def with_categories(*categories: dict) -> dict:
    return {**SMALL, "categories": list(categories)}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([1, 2], "document"),
        ("text", "document"),
        ({"rubric": ""}, "categories"),
        ({**SMALL, "categories": {"a": 1}}, "categories"),
        ({**SMALL, "colour": "red"}, "colour"),
        ({**SMALL, "format": "other"}, "format"),
        (with_categories({"slug": "a", "name": "A", "parent": "nowhere"}), "categories[0].parent"),
        (
            with_categories({"slug": "a", "name": "A"}, {"slug": "a", "name": "B"}),
            "categories[1].slug",
        ),
        (with_categories({"slug": "Bad Slug", "name": "A"}), "categories[0].slug"),
        (with_categories({"slug": "a", "name": ""}), "categories[0].name"),
        (with_categories({"slug": "a", "name": "x" * 121}), "categories[0].name"),
        (with_categories({"slug": "a", "name": "A", "path": "b"}), "categories[0].path"),
        (with_categories({"slug": "a", "name": "A", "colour": 1}), "categories[0].colour"),
        (
            with_categories({"slug": "a", "name": "A", "guidance": {"bad": "x"}}),
            "categories[0].guidance.bad",
        ),
        (with_categories({"slug": "a", "name": "A", "active": "yes"}), "categories[0].active"),
        (with_categories({"slug": "a", "name": "A", "order": -1}), "categories[0].order"),
        (
            with_categories({"slug": "a", "name": "A", "examples_acceptable": "x"}),
            "categories[0].examples_acceptable",
        ),
        (
            with_categories(
                {"slug": "a", "name": "A", "active": False},
                {"slug": "b", "name": "B", "parent": "a"},
            ),
            "categories[1].active",
        ),
        (
            {**SMALL, "severity_to_safety": {**SMALL["severity_to_safety"], "low": 2}},
            "severity_to_safety.low",
        ),
        (
            {**SMALL, "severity_to_safety": {**SMALL["severity_to_safety"], "high": 0.6}},
            "severity_to_safety.high",
        ),
        ({**SMALL, "severity_to_safety": None}, "severity_to_safety"),
        ({**SMALL, "levels": {"mood": {}}}, "levels.mood"),
    ],
)
def test_bad_documents_change_nothing(
    seeded: None, working: Callable[[], Any], document: Any, field: str
) -> None:
    before = working()
    assert field in invalid(document)
    assert working() == before


@pytest.mark.parametrize(
    ("content", "file_format", "reason"),
    [
        ('{"categories": [', "json", "malformed JSON at line 1"),
        ("categories: [a, b\n  c: d", "yaml", "malformed YAML at line"),
        ("", "json", "is empty"),
        (b"\xff\xfe\x00bad", "json", "not UTF-8"),
    ],
)
def test_malformed_files_are_reported(content: Any, file_format: str, reason: str) -> None:
    with pytest.raises(PolicyError) as error:
        parse_document(content, file_format)
    assert reason in str(error.value)


def test_commands_export_import_publish(
    seeded: None, personas: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("policy_export", "--version", "1", "--format", "yaml")
    exported = yaml.safe_load(capsys.readouterr().out)
    assert exported["policy_version"] == 1
    assert len(exported["categories"]) == 36

    source = tmp_path / "small.json"
    source.write_text(json.dumps(SMALL))
    call_command("policy_import", str(source), "--user", "alice")
    assert "Imported 4 categories" in capsys.readouterr().out
    out = tmp_path / "working.yaml"
    call_command("policy_export", "--format", "yaml", "--out", str(out))
    assert yaml.safe_load(out.read_text())["rubric"] == SMALL["rubric"]

    call_command("policy_publish", "--notes", "from the command line", "--user", "alice")
    version = PolicyVersion.objects.get(number=2)
    assert version.notes == "from the command line" and version.published_by == personas["alice"]


def test_commands_fail_on_bad_input(
    seeded: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_categories({"slug": "a", "name": "A", "parent": "zzz"})))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("policy_import", str(bad))
    assert "categories[0].parent: unknown parent 'zzz'" in capsys.readouterr().err
    with pytest.raises(CommandError, match="format"):
        call_command("policy_import", str(tmp_path / "file.txt"))
    with pytest.raises(CommandError, match="version"):
        call_command("policy_export", "--version", "99")
    for root in Category.objects.filter(parent=None):
        services.category_set_active(user=None, category=root, active=False)
    with pytest.raises(CommandError, match="nothing was published"):
        call_command("policy_publish", "--notes", "x")
    assert "no active category" in capsys.readouterr().err
