"""Run every benchmark module of this folder: ``python -m bench [--small]``.

Each module exposes ``main(argv) -> int`` and prints its figures and one SUMMARY line last.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    status = 0
    folder = Path(__file__).resolve().parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(folder)])):
        if module.startswith("_"):
            continue
        bench = importlib.import_module(f"bench.{module}")
        if not hasattr(bench, "main"):
            continue
        print(f"== bench/{module}.py", flush=True)
        status |= int(bench.main(list(argv)) or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
