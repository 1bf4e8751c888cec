"""The export benchmark in its small size, so it never rots (no timing is asserted)."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from ..conftest import ROOT
from ..conftest import test_database_url as worker_database_url


@pytest.mark.django_db(transaction=True)
def test_bench_export_small(capsys: Any) -> None:
    spec = importlib.util.spec_from_file_location("bench_export", ROOT / "bench" / "export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.main(["--small", "--database-url", worker_database_url()])
    assert len(figures["runs"]) == 4
    for run in figures["runs"]:
        assert run["export"]["pairs"] >= run["judgments"] // 3
        assert run["export"]["rows"] > 0
        assert run["copy"]["bytes"] > 0 and run["ratio"] > 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("export bench:")
