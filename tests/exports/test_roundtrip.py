"""Real data in, training files out: HH-RLHF round trip and the TRL loaders."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from exports.services import export_folder
from labeling.imports.candidates import candidate_import, parse_hh_transcript
from labeling.imports.common import normalise_text
from labeling.models import Campaign
from policy.models import PolicyVersion

from .conftest import read_jsonl

pytestmark = pytest.mark.django_db


def _conversation(messages: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], normalise_text(m["content"])) for m in messages)


def test_hh_rlhf_round_trip(shared_data: Path, run_export: Any) -> None:
    source = shared_data / "hh-rlhf-harmless-test" / "test.jsonl.gz"
    policy = PolicyVersion.objects.order_by("-number").first()
    assert policy is not None, "the migrations publish a default policy version"
    Campaign.objects.create(name="HH", slug="hh", policy_version=policy)
    report = candidate_import(
        campaign=Campaign.objects.get(slug="hh"),
        source=source,
        file_format="hh-rlhf",
        default_category="benign/general",
        default_intent="benign",
    )
    assert report.pairs_created > 0
    # The source, as (conversation + chosen, conversation + rejected) per line.
    expected: set[tuple[Any, ...]] = set()
    with gzip.open(source, "rb") as stream:
        for line in stream:
            obj = orjson.loads(line)
            chosen = parse_hh_transcript(obj["chosen"])
            rejected = parse_hh_transcript(obj["rejected"])
            assert chosen is not None and rejected is not None
            if _conversation(chosen[:-1]) != _conversation(rejected[:-1]):
                continue  # the importer reports these rather than guessing
            expected.add(
                (
                    _conversation(chosen[:-1]),
                    normalise_text(chosen[-1]["content"]),
                    normalise_text(rejected[-1]["content"]),
                )
            )
    export = run_export(
        format="trl-preference",
        campaigns=["hh"],
        label_sources=["prior"],
        preference_source="human",
    )
    assert export.status == "completed", export.error
    rows = [
        row
        for entry in export.manifest["files"]
        for row in read_jsonl(export_folder(export) / entry["path"])
    ]
    assert len(rows) == export.manifest["counts"]["rows_written"]
    # Every source pair with two different answers comes out once, chosen and rejected intact.
    distinct = {item for item in expected if item[1] != item[2]}
    assert len(rows) == len(distinct)
    for row in rows:
        assert row["margin"] == 1.0
        key = (
            _conversation(row["prompt"]),
            row["chosen"][0]["content"],
            row["rejected"][0]["content"],
        )
        assert key in distinct, key
    # And byte for byte, the stored text is the source text (the importer only trims).
    assert {(_conversation(r["prompt"]), r["chosen"][0]["content"]) for r in rows} == {
        (item[0], item[1]) for item in distinct
    }
    # Score-based formats cannot use prior preferences, and say so.
    reward = run_export(format="reward", campaigns=["hh"], label_sources=["prior"])
    assert reward.manifest["counts"]["rows_written"] == 0
    assert reward.manifest["counts"]["left_out"]["no_scores"] == len(rows)
    assert any("prior labels" in note for note in reward.manifest["notes"])


@pytest.mark.parametrize("fmt", ["trl-preference", "trl-kto"])
def test_trl_formats_load_with_datasets(
    fmt: str, hand: dict[str, Any], run_export: Any, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    export = run_export(format=fmt, split_ratios={"train": 1, "validation": 0, "test": 0})
    files = [str(export_folder(export) / f["path"]) for f in export.manifest["files"]]
    assert len(files) >= 2
    loaded = datasets.load_dataset(
        "json", data_files=files, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == export.manifest["counts"]["rows_written"]
    features = loaded.features
    assert features["prompt"].feature["role"].dtype == "string"
    if fmt == "trl-preference":
        assert features["margin"].dtype == "float64"
        assert features["pair_id"].dtype == "string"
        assert set(loaded.column_names) == {
            "prompt",
            "chosen",
            "rejected",
            "margin",
            "category",
            "intent",
            "pair_id",
        }
    else:
        assert features["label"].dtype == "bool"
        assert set(loaded.column_names) == {"prompt", "completion", "label"}
    # Each category file on its own has the same column types as the rest.
    for path in files:
        single = datasets.load_dataset(
            "json", data_files=path, split="train", cache_dir=str(tmp_path / "hf-cache")
        )
        assert single.features == features
