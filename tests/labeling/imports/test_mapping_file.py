"""The XSTest mapping file (``--mapping``): JSON or YAML, nested no deeper than the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from labeling.imports.common import ImportFailed
from labeling.imports.prompts import load_mapping_file


def test_a_deeply_nested_mapping_is_a_problem_not_a_crash(tmp_path: Path, settings) -> None:
    settings.JSON_MAX_DEPTH = 64
    path = tmp_path / "mapping.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ImportFailed) as failure:
        load_mapping_file(path)
    problem = failure.value.problems[0]
    assert problem.field == "mapping"
    assert "nested deeper than 64 levels" in problem.reason


def test_malformed_mapping_names_the_file_field(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("types: [unclosed", encoding="utf-8")
    with pytest.raises(ImportFailed) as failure:
        load_mapping_file(path)
    assert failure.value.problems[0].field == "mapping"


def test_a_plain_mapping_loads(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(
        "category_by_type:\n  homonyms: benign/general\nintent_by_label: {safe: benign}\n"
    )
    assert load_mapping_file(path) == {
        "category_by_type": {"homonyms": "benign/general"},
        "intent_by_label": {"safe": "benign"},
    }


def test_a_mapping_of_another_shape_is_refused_naming_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text("types:\n  homonyms: {category: benign/general, intent: benign}\n")
    with pytest.raises(ImportFailed) as failure:
        load_mapping_file(path)
    problem = failure.value.problems[0]
    assert problem.field == "mapping"
    assert "unknown key(s): types" in problem.reason and "category_by_type" in problem.reason
