"""Grading throughput against the offline model server's grader stand-in (target in
bench/README.md).

Figure: grades per second ÷ the ideal C / latency, at concurrency C = 32 and 200 ms latency,
once clean and once with 10 % of calls answered 429 or 500; plus lost and duplicate grades,
counted against the planned rows: every planned grade must have exactly one stored grade
(lost: a planned row with none; duplicate: a (grader version, item, order) with two). Target:
ratio ≥ 0.8 clean; 0 lost, 0 duplicates under faults. With 10 % of calls wasted on faults
the best possible ratio is about 0.9, before retry waits.

It measures the product path, as ``bench/generate.py`` does: real Celery worker processes
(``--processes``, default 2, one per core) consuming the ``grading`` queue, each running
batches of calls in its threads; a warm-up run (not measured) brings them up first. The
campaign has two imported candidates and one pair per prompt, so a run plans four grades
per prompt (each candidate, and the pair in both orders); each call asks for the grader's
samples at once (``n``).

    python -m bench.grade [--small] [--prompts N] [--samples S] [--processes P] [--threads T]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import time

from bench._setup import bench_campaign, django_setup
from bench.generate import stop_workers, worker_process

CATEGORY = "benign/general"


def _seed(slug: str, prompts: int):  # type: ignore[no-untyped-def]
    """A campaign of ``prompts`` prompts, each with a refusal and a helpful answer (one pair)."""
    from labeling.imports.candidates import candidate_import
    from labeling.imports.prompts import prompt_import
    from policy.rubric import Intent

    campaign = bench_campaign(slug)
    rows = "".join(
        json.dumps({"external_id": f"g{i}", "prompt": f"bench grading prompt {i}"}) + "\n"
        for i in range(prompts)
    )
    prompt_import(
        campaign=campaign,
        source=io.BytesIO(rows.encode()),
        file_format="jsonl",
        default_category=CATEGORY,
        default_intent=Intent.BENIGN.value,
    )
    completions = "".join(
        json.dumps({"external_id": f"g{i}", "source": source, "completion": text}) + "\n"
        for i in range(prompts)
        for source, text in (
            ("refuser", f"I can't help with that request ({i})."),
            ("helper", f"Here is a high-level overview for request {i}, without specifics."),
        )
    )
    candidate_import(
        campaign=campaign, source=io.BytesIO(completions.encode()), file_format="jsonl"
    )
    return campaign


def _exactly_once(run) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(lost, duplicates) of a finished run, counted against its planned rows in SQL."""
    from django.db import connection

    from labeling.models import Grade, GradingTask

    grades = Grade._meta.db_table
    tasks = GradingTask._meta.db_table
    with connection.cursor() as cursor:
        # Each planned row joined to the grades of its item (and order) by its run's version.
        cursor.execute(
            f"""
            SELECT count(*) FILTER (WHERE matched = 0), count(*) FILTER (WHERE matched > 1)
            FROM (
                SELECT t.id, count(g.id) AS matched
                FROM {tasks} t
                LEFT JOIN {grades} g
                  ON g.grader_version_id = %s
                 AND g.kind = t.kind
                 AND g.candidate_id IS NOT DISTINCT FROM t.candidate_id
                 AND g.pair_id IS NOT DISTINCT FROM t.pair_id
                 AND g."order" = t."order"
                WHERE t.run_id = %s AND t.status <> 'failed'
                GROUP BY t.id
            ) planned
            """,  # noqa: S608 - table names from the models, values bound
            [run.grader_version_id, run.pk],
        )
        lost, duplicates = cursor.fetchone()
    return int(lost), int(duplicates)


def _one(label: str, prompts: int, args: argparse.Namespace, faults: float) -> dict:
    from django.db.models import Max, Min

    from labeling.generation import endpoints
    from labeling.grading import runs
    from labeling.grading.services import grader_create
    from labeling.models import Grade, Grader, GradingRun, ModelEndpoint
    from offline_model.server import OfflineModelServer

    server = OfflineModelServer(
        latency_ms=args.latency_ms, seed=1, error_rate=faults, retry_after=0.2
    ).start()
    try:
        campaign = _seed(f"bench-grade-{label}", prompts)
        Grader.objects.filter(name=f"bench-grade-{label}").delete()
        ModelEndpoint.objects.filter(name=f"bench-grade-{label}").delete()
        endpoint = endpoints.endpoint_create(
            name=f"bench-grade-{label}",
            base_url=server.base_url,
            model="graylab-offline",
            timeout_seconds=10,
            concurrency_limit=args.concurrency,
        )
        version = grader_create(
            name=f"bench-grade-{label}",
            endpoint=endpoint,
            policy_version=campaign.policy_version,
            samples=args.samples,
            temperature=0.7,
            seed=3,
        )
        started = time.monotonic()
        run = runs.run_create(campaign=campaign, grader_version=version)
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
        lost, duplicates = _exactly_once(run)
        stats = server.stats()
        first, last = (
            Grade.objects.filter(grader_version=version)
            .aggregate(first=Min("created_at"), last=Max("created_at"))
            .values()
        )
        result = {
            "label": label,
            "planned": run.planned,
            "graded": run.graded,
            "failed": run.failed,
            "stored": Grade.objects.filter(grader_version=version).count(),
            "seconds": elapsed,
            "throughput": run.graded / elapsed,
            "ideal": args.concurrency / (args.latency_ms / 1000),
            "lost": lost + (run.planned - run.graded - run.failed),
            "duplicates": duplicates,
            "max_in_flight": stats.get("max_in_flight"),
            "plan_seconds": (run.started_at - run.created_at).total_seconds(),
            "to_first_seconds": (first - run.created_at).total_seconds() if first else 0.0,
            "after_last_seconds": (run.finished_at - last).total_seconds() if last else 0.0,
        }
        result["ratio"] = result["throughput"] / result["ideal"]
        GradingRun.objects.filter(pk=run.pk).delete()
        campaign.delete()
        Grader.objects.filter(pk=version.grader_id).delete()
        endpoint.delete()
        return result
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="a quick run (for the test suite)")
    parser.add_argument(
        "--prompts", type=int, default=None, help="prompts (four planned grades each)"
    )
    parser.add_argument("--samples", type=int, default=3, help="samples per item (one call)")
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

    prompts = args.prompts or (12 if args.small else 500)
    # As for generation: ask for three times the limit, so while some batches store their
    # grades or fetch their next message, others are ready to take the slots given back.
    threads = args.threads or max(
        1, math.ceil(3 * args.concurrency / (args.processes * batch_size(args.concurrency)))
    )
    workers = [worker_process("grading", threads) for _ in range(args.processes)]
    try:
        # Not measured: brings the workers up and warms their connections and caches.
        warm = _one("warm-up", max(4, args.concurrency // 2), args, 0.0)
        print(f"warm-up: {warm['graded']}/{warm['planned']} in {warm['seconds']:.1f} s")
        results = [
            _one(label, prompts, args, faults)
            for label, faults in (("clean", 0.0), ("faults", 0.10))
            if not (args.clean_only and faults) and not (args.faults_only and not faults)
        ]
    finally:
        stop_workers(workers)
    print(
        f"workers: {args.processes} processes x {threads} threads, batches of "
        f"{batch_size(args.concurrency)} calls; {args.samples} samples per item in one call"
    )
    for r in results:
        print(
            f"{r['label']:>7}: {r['graded']}/{r['planned']} in {r['seconds']:.1f} s = "
            f"{r['throughput']:.1f}/s; ideal {r['ideal']:.0f}/s; ratio {r['ratio']:.2f}; "
            f"failed {r['failed']}, stored {r['stored']}, lost {r['lost']}, duplicates "
            f"{r['duplicates']}, max in flight {r['max_in_flight']} (limit {args.concurrency}); "
            f"planning {r['plan_seconds']:.2f} s, first grade after {r['to_first_seconds']:.2f} s, "
            f"run closed {r['after_last_seconds']:.2f} s after the last"
        )
    exact = all(r["lost"] == 0 and r["duplicates"] == 0 for r in results)
    if len(results) < 2:
        return 0 if exact else 1
    clean, faults = results
    ok = clean["ratio"] >= 0.8 and exact
    print(
        f"SUMMARY grade: ratio {clean['ratio']:.2f} (target >= 0.8), with 10% faults ratio "
        f"{faults['ratio']:.2f}, lost {faults['lost']}, duplicates {faults['duplicates']} -> "
        f"{'PASS' if ok else 'BELOW TARGET'}"
    )
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
