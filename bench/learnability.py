"""Learnability benchmark (target in bench/README.md): the report of a 100k-pair preference
export within 60 s and 1 GB, and the report of the vendored HH-RLHF pairs as imported.

Speed: a ``trl-preference`` export folder of N synthetic pairs (written by the export's own
writer, with its manifest: ten categories, 90/5/5 splits, each chosen answer carrying one of a
few "preferred" words so there is something to learn) is read, checked against its manifest,
trained on and reported on by :func:`report_for_folder` — all the worker's report does but
writing manifest and archive again — in a child process, so its time and peak RSS
(``ru_maxrss``) are its own. The floor, in another child process on the same folder, is
vectorising every prompt, chosen and rejected text once with the model's own hasher.

Data: the vendored HH-RLHF harmless-base test pairs, imported with the ``hh-rlhf`` candidate
format into a campaign of the configured database, exported as ``trl-preference`` with the
imported preferences as labels (default splits and seed), then reported on as every preference
export is. The campaign and export are removed afterwards.

    python -m bench.learnability             # 100k pairs, and the HH-RLHF pairs
    python -m bench.learnability --small     # seconds (the test suite runs it)
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HH_RLHF = ROOT / "labeling" / "demo_data" / "hh-rlhf" / "test.jsonl.gz"
HH_CAMPAIGN = "bench-learnability-hh"
BENCH_DATABASE = "graylab_bench_learnability"
TARGET_SECONDS = 60.0
TARGET_MB = 1024.0
CATEGORIES = tuple(f"area-{index // 2}/category-{index}" for index in range(10))
WORDS = (
    "the", "model", "explains", "general", "principles", "without", "operational", "detail",
    "and", "points", "to", "safe", "resources", "while", "declining", "specific", "harmful",
    "steps", "requested", "by", "user", "in", "question", "about", "health", "money", "law",
    "travel", "cooking", "privacy", "security", "chemistry", "biology", "history", "music",
)  # fmt: skip
PREFERRED = ("carefully", "safely", "resources", "overview")


def _settings() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")


def write_folder(folder: Path, pairs: int, seed: int = 7) -> None:
    """A trl-preference export folder of ``pairs`` synthetic pairs, as the exporter lays it out."""
    _settings()
    import orjson

    from exports.splits import split_for
    from exports.writer import DataWriter

    rng = random.Random(seed)
    writer = DataWriter(folder, extension="jsonl")
    ratios = {"train": 0.9, "validation": 0.05, "test": 0.05}

    def text(count: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(count))

    per_category = pairs // len(CATEGORIES)
    for number, category in enumerate(CATEGORIES):
        count = per_category + (1 if number < pairs % len(CATEGORIES) else 0)
        for index in range(count):
            prompt = f"{text(rng.randint(10, 30))} {category} {index}"
            split = split_for(f"{category}/{index}", seed=seed, ratios=ratios)
            good = f"{text(rng.randint(30, 90))} {rng.choice(PREFERRED)}"
            bad = text(rng.randint(30, 90))
            # A tenth of the labels are noise, as in real preference data.
            chosen, rejected = (bad, good) if rng.random() < 0.1 else (good, bad)
            writer.write_json(
                category,
                split,
                {
                    "prompt": [{"role": "user", "content": prompt}],
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                    "category": category,
                    "intent": "benign",
                    "pair_id": f"{number}-{index}",
                    "margin": 2.0,
                },
            )
    files = writer.close()
    manifest = {
        "format": "trl-preference",
        "seed": seed,
        "files": [record.as_dict() for record in files],
    }
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))


def _child(kind: str, folder: Path) -> None:
    """Measure one thing in this (fresh) process and print it as JSON."""
    _settings()
    from exports.learnability.model import vectorizer
    from exports.learnability.reading import pairs_from_folder, report_for_folder

    started = time.perf_counter()
    if kind == "report":
        report, _pairs = report_for_folder(folder)
        figures: dict[str, Any] = {"report": report}
    else:
        _manifest, pairs = pairs_from_folder(folder)
        read = time.perf_counter()
        hasher = vectorizer()
        for start in range(0, len(pairs), 8192):
            chunk = pairs[start : start + 8192]
            for field in ("prompt", "chosen", "rejected"):
                hasher.transform([getattr(pair, field) for pair in chunk])
        figures = {"read_seconds": read - started}
        started = read
    figures["seconds"] = time.perf_counter() - started
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def _measure(kind: str, folder: Path) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.learnability", "--child", kind, str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _hh_lines(limit: int | None) -> bytes:
    with gzip.open(HH_RLHF, "rb") as stream:
        lines = stream.read().splitlines(keepends=True)
    return b"".join(lines[:limit] if limit else lines)


def hh_rlhf_report(*, limit: int | None, database_url: str | None) -> dict[str, Any]:
    """Import the vendored HH-RLHF pairs, export them as trl-preference and report."""
    from django.conf import settings

    if not settings.configured:
        if database_url:
            _ensure_database(database_url)
            os.environ["DATABASE_URL"] = database_url
        _settings()
        from bench._setup import django_setup

        django_setup()
    from bench._setup import bench_campaign
    from exports import services
    from exports.learnability import services as learnability_services
    from exports.models import Export
    from labeling.imports.candidates import candidate_import

    campaign = bench_campaign(HH_CAMPAIGN)
    export = None
    with tempfile.TemporaryDirectory() as folder:
        try:
            with settings_override(EXPORTS_DIR=Path(folder)):
                candidate_import(
                    campaign=campaign,
                    source=io.BytesIO(_hh_lines(limit)),
                    file_format="hh-rlhf",
                    default_category="benign/general",
                    default_intent="benign",
                )
                export = services.export_create(
                    user=None,
                    data={
                        "format": "trl-preference",
                        "campaigns": [HH_CAMPAIGN],
                        "label_sources": ["prior"],
                    },
                    enqueue=False,
                )
                services.export_run(export_id=export.id, enqueue_learnability=False)
                started = time.perf_counter()
                export = learnability_services.export_learnability_run(export_id=export.id)
                seconds = time.perf_counter() - started
                assert export.learnability_status == Export.Status.COMPLETED, (
                    export.learnability_error
                )
                return {"report": export.learnability, "seconds": seconds}
        finally:
            if export is not None:
                Export.objects.filter(pk=export.pk).delete()
            campaign.delete()


def _ensure_database(url: str) -> None:
    """Create the benchmark's own database if it is missing (it is then migrated)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def settings_override(**values: Any) -> Any:
    from django.test import override_settings

    return override_settings(**values)


def _describe(block: dict[str, Any]) -> str:
    low, high = block["interval"]
    baseline = block["length_baseline"]
    return (
        f"accuracy {block['accuracy']:.3f} [{low:.3f}, {high:.3f}], length-only "
        f"{baseline['accuracy']:.3f} [{baseline['interval'][0]:.3f}, "
        f"{baseline['interval'][1]:.3f}] (n={block['pairs']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few thousand pairs")
    parser.add_argument("--pairs", type=int, default=None, help="synthetic pairs (100000)")
    parser.add_argument("--no-hh", action="store_true", help="skip the HH-RLHF report")
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
        help="the database the HH-RLHF pairs are imported into (its own, created if missing; "
        "inside the test suite, the test database)",
    )
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    pairs = args.pairs or (3000 if args.small else 100_000)
    figures: dict[str, Any] = {"pairs": pairs}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_folder(Path(folder), pairs)
        print(f"wrote {pairs} synthetic pairs in {time.perf_counter() - started:.1f} s")
        floor = _measure("floor", Path(folder))
        run = _measure("report", Path(folder))
    report = run.pop("report")
    ratio = run["seconds"] / floor["seconds"]
    figures.update(report=run, floor=floor, ratio=ratio)
    print(
        f"report: {run['seconds']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB "
        f"(targets {TARGET_SECONDS:.0f} s, {TARGET_MB:.0f} MB)"
    )
    print(
        f"floor (vectorise every text once): {floor['seconds']:.1f} s, after reading the "
        f"files in {floor['read_seconds']:.1f} s; peak RSS {floor['peak_rss_mb']:.0f} MB"
    )
    for split, block in report["splits"].items():
        print(f"synthetic {split}: {_describe(block)}")
    summary = (
        f"learnability bench: {pairs} pairs in {run['seconds']:.1f} s "
        f"({'within' if run['seconds'] <= TARGET_SECONDS else 'OVER'} {TARGET_SECONDS:.0f} s), "
        f"peak RSS {run['peak_rss_mb']:.0f} MB "
        f"({'within' if run['peak_rss_mb'] <= TARGET_MB else 'OVER'} {TARGET_MB:.0f} MB), "
        f"{ratio:.1f}x the vectorise-once floor"
    )
    if not args.no_hh:
        hh = hh_rlhf_report(limit=1000 if args.small else None, database_url=args.database_url)
        figures["hh_rlhf"] = hh
        hh_report = hh["report"]
        if hh_report["status"] != "ok":
            print(f"HH-RLHF: {hh_report['message']}")
        else:
            print(
                f"HH-RLHF as imported: {sum(hh_report['pairs'].values())} pairs "
                f"(train {hh_report['pairs']['train']}), report in {hh['seconds']:.1f} s, "
                f"length-only baseline prefers the {hh_report['length_direction']} answer"
            )
            for split, block in hh_report["splits"].items():
                print(f"HH-RLHF {split}: {_describe(block)}")
            test = hh_report["splits"]["test"]
            summary += f"; HH-RLHF test {_describe(test)}"
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
