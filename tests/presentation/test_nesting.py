"""The depth scans: right about strings and escapes, fast and recursion-free on hostile input."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from presentation.nesting import TooDeep, json_too_deep, yaml_too_deep


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [0, 1, 63, 64])
def test_json_at_or_below_the_limit_passes(depth: int) -> None:
    assert json_too_deep(nested(depth), 64) is None
    assert json_too_deep(b'{"a":' * depth + b"1" + b"}" * depth, 64) is None


def test_one_level_past_the_limit_is_found_where_it_starts() -> None:
    assert json_too_deep(nested(65), 64) == TooDeep(limit=64, line=1, column=65)


def test_many_brackets_side_by_side_are_not_depth() -> None:
    wide = b"[" + b",".join([b"[[1, 2], {}]"] * 10_000) + b"]"
    assert json_too_deep(wide, 3) is None
    assert json_too_deep(wide, 2) == TooDeep(limit=2, line=1, column=3)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 1000, "b": ["{" * 500, "]]]"], "c": '\\"[[[['}).encode()
    assert json_too_deep(text, 2) is None


@pytest.mark.parametrize(
    "string",
    [r'"\\"', r'"\""', r'"\\\""', r'"\\\\"', r'"a\\\\\"b"'],
    ids=["escaped-backslash", "escaped-quote", "backslash-then-quote", "two-backslashes", "mixed"],
)
def test_escapes_do_not_confuse_where_strings_end(string: str) -> None:
    # Each string is followed by real nesting two deep: a wrong string end would hide it or
    # invent more.
    body = f"[{string}, [[1]]]".encode()
    json.loads(body)  # the case is valid JSON
    assert json_too_deep(body, 3) is None
    assert json_too_deep(body, 2) is not None


def test_line_and_column_name_the_offending_bracket() -> None:
    document = {"categories": [{"slug": "x", "notes": "é [[[ ü"}], "deep": [[[["here"]]]]}
    text = json.dumps(document, indent=2, ensure_ascii=False).encode()
    found = json_too_deep(text, 3)
    assert found is not None
    line = text.decode().splitlines()[found.line - 1]
    assert line[found.column - 1] == "["
    assert found.line == 10  # {  "deep": [  [  [ : the fourth level opens on line 10


def test_non_ascii_text_counts_columns_in_characters() -> None:
    found = json_too_deep('["ééé", [[1]]]'.encode(), 2)
    assert found == TooDeep(limit=2, line=1, column=10)


def test_a_hundred_thousand_brackets_are_refused_quickly() -> None:
    started = time.perf_counter()
    found = json_too_deep(b"[" * 100_000, 64)
    assert found == TooDeep(limit=64, line=1, column=65)
    assert time.perf_counter() - started < 1


def test_ten_megabytes_of_brackets_stay_bounded() -> None:
    started = time.perf_counter()
    assert json_too_deep(b"[" * 10_000_000, 64) is not None
    assert json_too_deep(b"[1]," * 2_500_000, 64) is None
    assert time.perf_counter() - started < 10


def test_message_names_the_limit_and_the_place() -> None:
    assert TooDeep(limit=64, line=3, column=7).message("JSON") == (
        "JSON nested deeper than 64 levels (line 3, column 7)"
    )


def test_yaml_flow_and_block_nesting() -> None:
    assert yaml_too_deep("a: [b, {c: [d]}]\n", 4) is None
    assert yaml_too_deep("a: [b, {c: [d]}]\n", 3) == TooDeep(limit=3, line=1, column=12)
    assert yaml_too_deep("a: [b, {c: [d]}]\n", 2) == TooDeep(limit=2, line=1, column=8)
    block = "".join("  " * level + "k:\n" for level in range(99)) + "  " * 99 + "k: v\n"
    assert yaml_too_deep(block, 64) == TooDeep(limit=64, line=65, column=129)


def test_yaml_a_hundred_thousand_brackets_are_refused_quickly() -> None:
    started = time.perf_counter()
    assert yaml_too_deep("[" * 100_000, 64) == TooDeep(limit=64, line=1, column=65)
    assert time.perf_counter() - started < 5


def test_yaml_brackets_in_quoted_scalars_do_not_count() -> None:
    assert yaml_too_deep("a: '[[[[[['\nb: \"{{{{\"\n", 1) is None


def test_malformed_yaml_raises_as_safe_load_would() -> None:
    with pytest.raises(yaml.YAMLError):
        yaml_too_deep("categories: [a, b\n  c: d", 64)
