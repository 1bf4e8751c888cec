"""Generation throughput against the offline model server (target in bench/README.md).

Figure: throughput ÷ the ideal C / latency, at concurrency C = 32 and 200 ms latency, once
clean and once with 10 % of calls answered 429 or 500; plus lost and duplicate candidates
(both must be 0). Target: ratio ≥ 0.8 clean; 0 lost, 0 duplicates under faults. With 10 %
of calls wasted on faults the best possible ratio is about 0.9, before retry waits.

It measures the product path: real Celery worker processes (``--processes``, default 2, one per
core) consuming the ``generation`` queue, each running batches of calls in its threads; a
warm-up run (not measured) brings them up first. Each result line also gives the time spent
planning, until the first candidate, and between the last candidate and the run's close.

    python -m bench.generate [--small] [--prompts N] [--processes P] [--threads T]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from bench._setup import bench_campaign, django_setup

ROOT = Path(__file__).resolve().parent.parent


def worker_process(queue: str, concurrency: int) -> subprocess.Popen[bytes]:
    """A Celery worker process on ``queue`` with ``concurrency`` threads, run as in production."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "ERROR",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"bench-{os.getpid()}-{time.monotonic_ns()}@%h",
        ],
        cwd=ROOT,
        env=_production_env(),
        start_new_session=True,
    )


def _production_env() -> dict[str, str]:
    """The workers run as in production: DEBUG off (no query log), this process's secret."""
    from django.conf import settings

    return {**os.environ, "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY}


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Stop the benchmark's worker processes (killed if they do not stop within 30 s)."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _one(label: str, prompts: int, concurrency: int, latency_ms: float, faults: float) -> dict:
    import io
    import json

    from django.db.models import Max, Min

    from labeling.generation import endpoints, runs
    from labeling.generation.styles import BUILT_IN
    from labeling.imports.prompts import prompt_import
    from labeling.models import Candidate, GenerationRun, GenerationTask, ModelEndpoint
    from offline_model.server import OfflineModelServer
    from policy.rubric import Intent

    server = OfflineModelServer(
        latency_ms=latency_ms, seed=1, error_rate=faults, retry_after=0.2
    ).start()
    try:
        campaign = bench_campaign(f"bench-generate-{label}")
        rows = "".join(json.dumps({"prompt": f"bench prompt {i}"}) + "\n" for i in range(prompts))
        prompt_import(
            campaign=campaign,
            source=io.BytesIO(rows.encode()),
            file_format="jsonl",
            default_category="benign/general",
            default_intent=Intent.BENIGN.value,
        )
        ModelEndpoint.objects.filter(name=f"bench-{label}").delete()
        endpoint = endpoints.endpoint_create(
            name=f"bench-{label}",
            base_url=server.base_url,
            model="graylab-offline",
            timeout_seconds=10,
            concurrency_limit=concurrency,
        )
        started = time.monotonic()
        run = runs.run_create(
            campaign=campaign,
            endpoints=[endpoint],
            styles=[BUILT_IN["safe-completion-style"]],
            max_tokens=64,
        )
        last_sweep = time.monotonic()
        while True:
            time.sleep(0.05)
            run.refresh_from_db()
            if run.status not in ("queued", "running"):
                break
            if time.monotonic() - last_sweep > 15:
                runs.run_recover(run_id=run.pk)
                last_sweep = time.monotonic()
        elapsed = time.monotonic() - started
        done_keys = set(
            GenerationTask.objects.filter(run=run, status="done").values_list(
                "idempotency_key", flat=True
            )
        )
        candidates = Candidate.objects.filter(run=run).count()
        stats = server.stats()
        first, last = (
            Candidate.objects.filter(run=run)
            .aggregate(first=Min("created_at"), last=Max("created_at"))
            .values()
        )
        phases = {
            "plan_seconds": (run.started_at - run.created_at).total_seconds(),
            "to_first_seconds": (first - run.created_at).total_seconds() if first else None,
            "after_last_seconds": (run.finished_at - last).total_seconds() if last else None,
        }
        result = {
            "label": label,
            "planned": run.planned,
            "succeeded": run.succeeded,
            "failed": run.failed,
            "seconds": elapsed,
            "throughput": run.succeeded / elapsed,
            "ideal": concurrency / (latency_ms / 1000),
            "lost": run.planned - run.succeeded - run.failed,
            "duplicates": candidates - len(done_keys),
            "max_in_flight": stats.get("max_in_flight"),
            **phases,
        }
        result["ratio"] = result["throughput"] / result["ideal"]
        GenerationRun.objects.filter(pk=run.pk).delete()
        campaign.delete()
        endpoint.delete()
        return result
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="a quick run (for the test suite)")
    parser.add_argument("--prompts", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument(
        "--processes", type=int, default=2, help="worker processes (default: one per core of 2)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Celery threads per process (default: enough batches to ask for 3 x C calls)",
    )
    parser.add_argument("--clean-only", action="store_true", help="skip the run with faults")
    parser.add_argument("--faults-only", action="store_true", help="skip the clean run")
    args = parser.parse_args(argv)
    django_setup()
    from labeling.generation.dispatch import batch_size

    prompts = args.prompts or (48 if args.small else 1600)
    # Each Celery thread runs one batch at a time, its calls at once. Ask for three times the
    # limit, so that while some batches store their results, wait on a retry or fetch their next
    # message, others are ready to take the slots they give back (the semaphore holds the rest).
    threads = args.threads or max(
        1, math.ceil(3 * args.concurrency / (args.processes * batch_size(args.concurrency)))
    )
    workers = [worker_process("generation", threads) for _ in range(args.processes)]
    try:
        # Not measured: brings the workers up and warms their connections and caches.
        warm = _one("warm-up", 2 * args.concurrency, args.concurrency, args.latency_ms, 0.0)
        print(f"warm-up: {warm['succeeded']}/{warm['planned']} in {warm['seconds']:.1f} s")
        results = [
            _one(label, prompts, args.concurrency, args.latency_ms, faults)
            for label, faults in (("clean", 0.0), ("faults", 0.10))
            if not (args.clean_only and faults) and not (args.faults_only and not faults)
        ]
    finally:
        stop_workers(workers)
    print(
        f"workers: {args.processes} processes x {threads} threads, batches of "
        f"{batch_size(args.concurrency)} calls"
    )
    for r in results:
        print(
            f"{r['label']:>7}: {r['succeeded']}/{r['planned']} in {r['seconds']:.1f} s = "
            f"{r['throughput']:.1f}/s; ideal {r['ideal']:.0f}/s; ratio {r['ratio']:.2f}; "
            f"failed {r['failed']}, lost {r['lost']}, duplicates {r['duplicates']}, "
            f"max in flight {r['max_in_flight']} (limit {args.concurrency}); "
            f"planning {r['plan_seconds']:.2f} s, first candidate after "
            f"{r['to_first_seconds'] or 0:.2f} s, run closed {r['after_last_seconds'] or 0:.2f} s "
            "after the last"
        )
    if len(results) < 2:
        return 0 if all(r["lost"] == 0 and r["duplicates"] == 0 for r in results) else 1
    clean, faults = results
    ok = (
        clean["ratio"] >= 0.8
        and faults["lost"] == 0
        and faults["duplicates"] == 0
        and clean["duplicates"] == 0
    )
    print(
        f"SUMMARY generate: ratio {clean['ratio']:.2f} (target >= 0.8), with 10% faults ratio "
        f"{faults['ratio']:.2f}, lost {faults['lost']}, duplicates {faults['duplicates']} -> "
        f"{'PASS' if ok else 'BELOW TARGET'}"
    )
    return 0 if clean["lost"] == 0 and faults["lost"] == 0 and faults["duplicates"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
