"""The learnability benchmark in its small size, so it never rots (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from ..conftest import ROOT


@pytest.mark.django_db(transaction=True)
def test_bench_learnability_small(capsys: Any, tmp_path: Any, settings: Any) -> None:
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = importlib.util.spec_from_file_location(
        "bench_learnability", ROOT / "bench" / "learnability.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--small"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("learnability bench: 3000 pairs in ")
    assert "HH-RLHF test accuracy" in lines[-1]
    assert any(line.startswith("HH-RLHF validation: accuracy") for line in lines)
