"""Consensus labels: a campaign of 600k judgments modelled in a worker, and how well the model
finds planted raters and planted errors (targets in bench/README.md).

Three parts:

* **speed** — a campaign of about 600k judgments by 50 annotators (``bench/dashboards.py``'s
  seeding, in its own database kept between runs) computed as the worker computes it
  (``consensus_run_execute``: read, model three fields, send flags to review, store), against
  the floor of reading its judgments' labels alone, the fastest read there is
  (``read_judgment_labels``: one ``COPY`` of integers into pandas). Each run starts as a first
  computation: the consensus review requests an earlier run sent are removed first;
* **planted raters** — the vendored XSTest completions with annotator 1's label as the truth,
  five simulated raters of accuracy 0.95, 0.9, 0.8, 0.65 and one answering at random, three
  per item: consensus accuracy against majority-vote accuracy, and the order of the estimated
  reliabilities against the true order (over several seeds);
* **planted errors** — the vendored HH-RLHF pairs with the dataset's preference as a rater,
  flipped on 10 % of the pairs, beside three simulated raters (accuracy 0.9, 0.8, 0.7) per pair:
  the recall of flipped pairs among the pairs whose dataset label the model flags (the flag
  budget) against a random flag set of the same size.

    python -m bench.consensus [--small] [--reseed] [--judgments N] [--seeds N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

from bench import dashboards

BENCH_DATABASE = "graylab_bench_consensus"
CAMPAIGN_SLUG = "bench-consensus"
DATA = Path(__file__).resolve().parent.parent / "labeling" / "demo_data"
PLANTED_ACCURACIES = (0.95, 0.9, 0.8, 0.65, None)  # None: answers at random
ERROR_RATERS = (0.9, 0.8, 0.7)
FLIP_SHARE = 0.1


def _answer(rng: random.Random, truth: Any, accuracy: float | None, domain: tuple) -> Any:
    if accuracy is None:
        return rng.choice(domain)
    if rng.random() < accuracy:
        return truth
    return rng.choice([value for value in domain if value != truth])


def planted_raters(seeds: int) -> dict[str, Any]:
    """Consensus vs majority on XSTest with simulated raters; reliability order."""
    from labeling.quality.agreement import PRIOR_LABEL_TO_RESPONSE_MODE
    from labeling.quality.consensus import FIELD_DOMAINS, field_consensus
    from policy.rubric import RESPONSE_MODE_FIELD

    with (DATA / "xstest" / "xstest_v2_completions_gpt4.csv").open(newline="") as handle:
        truth = {
            row["id"]: str(PRIOR_LABEL_TO_RESPONSE_MODE[row["annotation_1"].strip()])
            for row in csv.DictReader(handle)
            if row["annotation_1"].strip() in PRIOR_LABEL_TO_RESPONSE_MODE
        }
    domain = FIELD_DOMAINS[RESPONSE_MODE_FIELD]
    names = [f"acc-{a}" if a is not None else "random" for a in PLANTED_ACCURACIES]
    runs = []
    for seed in range(seeds):
        rng = random.Random(seed)
        ratings = {}
        for item, true in truth.items():
            chosen = rng.sample(range(len(PLANTED_ACCURACIES)), 3)
            ratings[item] = {
                names[r]: _answer(rng, true, PLANTED_ACCURACIES[r], domain) for r in chosen
            }
        result = field_consensus(RESPONSE_MODE_FIELD, ratings)
        consensus = sum(result.labels[i][0] == t for i, t in truth.items()) / len(truth)
        majority = sum(result.labels[i][2] == t for i, t in truth.items()) / len(truth)
        order = sorted(result.raters, key=lambda name: -result.raters[name])
        runs.append(
            {
                "seed": seed,
                "consensus_accuracy": round(consensus, 4),
                "majority_accuracy": round(majority, 4),
                "reliabilities": {name: round(result.raters[name], 3) for name in names},
                "order_right": order == names,
            }
        )
    return {
        "items": len(truth),
        "runs": runs,
        "mean_consensus_accuracy": round(sum(r["consensus_accuracy"] for r in runs) / seeds, 4),
        "mean_majority_accuracy": round(sum(r["majority_accuracy"] for r in runs) / seeds, 4),
        "order_right": sum(r["order_right"] for r in runs),
    }


def planted_errors(seeds: int, limit: int | None = None) -> dict[str, Any]:
    """Recall of flipped HH-RLHF preferences among flagged pairs, against random flags."""
    from labeling.quality.consensus import A_BETTER, B_BETTER, field_consensus
    from policy.rubric import PREFERENCE_FIELD

    with gzip.open(DATA / "hh-rlhf" / "test.jsonl.gz", "rt") as handle:
        pairs = sum(1 for _ in handle)
    if limit is not None:
        pairs = min(pairs, limit)
    runs = []
    for seed in range(seeds):
        rng = random.Random(seed)
        # Which candidate is A is a coin toss per pair, as canonical order is by id.
        truth = {pair: rng.choice((A_BETTER, B_BETTER)) for pair in range(pairs)}
        flipped = set(rng.sample(range(pairs), round(FLIP_SHARE * pairs)))
        ratings = {}
        for pair, true in truth.items():
            other = B_BETTER if true == A_BETTER else A_BETTER
            ratings[pair] = {"hh-rlhf": other if pair in flipped else true}
            for index, accuracy in enumerate(ERROR_RATERS):
                ratings[pair][f"rater{index + 1}"] = true if rng.random() < accuracy else other
        result = field_consensus(PREFERENCE_FIELD, ratings)
        # The audit's question is which of the dataset's own labels are wrong: the flags that
        # name the dataset as the rater who differs from the consensus.
        flags = result.flags
        flagged = set(flags.loc[flags["rater"] == "hh-rlhf", "item"].tolist())
        budget = len(flagged)
        recall = len(flagged & flipped) / len(flipped)
        random_flags = set(rng.sample(range(pairs), budget))
        runs.append(
            {
                "seed": seed,
                "flag_budget": budget,
                "recall": round(recall, 4),
                "precision": round(len(flagged & flipped) / budget, 4) if budget else None,
                "random_recall": round(len(random_flags & flipped) / len(flipped), 4),
                "dataset_reliability": round(result.raters["hh-rlhf"], 4),
            }
        )
    return {
        "pairs": pairs,
        "flipped": round(FLIP_SHARE * pairs),
        "runs": runs,
        "mean_recall": round(sum(r["recall"] for r in runs) / seeds, 4),
        "mean_random_recall": round(sum(r["random_recall"] for r in runs) / seeds, 4),
        "mean_flag_budget": round(sum(r["flag_budget"] for r in runs) / seeds, 1),
    }


def speed(campaign: Any) -> dict[str, Any]:
    """The worker's computation against reading the judgments' labels alone."""
    import os

    from labeling.models import ConsensusRun, Judgment, ReviewRequest
    from labeling.quality.consensus import (
        REVIEW_KEY,
        consensus_run_execute,
        read_judgment_labels,
    )

    judgments = Judgment.objects.filter(pair__campaign=campaign).count()
    ReviewRequest.objects.filter(key=REVIEW_KEY, pair__campaign=campaign).delete()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    read_judgment_labels(campaign)
    floor = time.perf_counter() - started
    run = ConsensusRun.objects.create(campaign=campaign)
    started = time.perf_counter()
    done = consensus_run_execute(run_id=run.pk)
    total = time.perf_counter() - started
    assert done is not None and done.status == ConsensusRun.Status.DONE, done and done.error
    review = done.summary.get("review") or {}
    return {
        "judgments": judgments,
        "read_seconds": round(floor, 2),
        "compute_seconds": round(total, 2),
        "ratio": round(total / floor, 2) if floor else None,
        "items": {name: done.summary[name]["items"] for name in ("response_mode", "severity")},
        "pairs": done.summary["preference"]["items"],
        "flagged_pairs": review.get("flagged_pairs"),
        "sent": review.get("sent"),
        "over_cap": review.get("over_cap"),
        "load": [round(load, 2), round(os.getloadavg()[0], 2)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny size in the current database")
    parser.add_argument("--judgments", type=int, default=600_000)
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the planted parts")
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
        help="full mode only: the benchmark's own database (created if missing, kept)",
    )
    parser.add_argument("--reseed", action="store_true", help="full mode: seed again")
    args = parser.parse_args(argv)
    if args.small:
        dashboards._setup_django(None)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from bench.calibration import _campaign, _has_pairs

        campaign = _campaign(f"{CAMPAIGN_SLUG}-small")
        if not _has_pairs(campaign):
            dashboards.seed_small(campaign)
        seeds, limit = 1, 300
    else:
        dashboards._ensure_database(args.database_url)
        dashboards._setup_django(args.database_url)
        from django.core.management import call_command
        from django.db import connection, transaction

        from bench.calibration import _campaign, _has_pairs

        call_command("migrate", verbosity=0, interactive=False)
        campaign = _campaign(CAMPAIGN_SLUG)
        if args.reseed or not _has_pairs(campaign):
            connection.close()
            dashboards._ensure_database(args.database_url, fresh=True)
            call_command("migrate", verbosity=0, interactive=False)
            campaign = _campaign(CAMPAIGN_SLUG)
            started = time.perf_counter()
            with transaction.atomic():
                seeded = dashboards.seed_copy(campaign, args.judgments)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print(f"seeded {seeded} judgments in {time.perf_counter() - started:.1f} s")
        seeds, limit = args.seeds, None

    timing = speed(campaign)
    print("speed:", json.dumps(timing))
    raters = planted_raters(seeds)
    print("planted raters (XSTest):", json.dumps(raters))
    errors = planted_errors(seeds, limit)
    print("planted errors (HH-RLHF):", json.dumps(errors))
    print(
        f"SUMMARY consensus: {timing['judgments']} judgments in {timing['compute_seconds']} s "
        f"(target ≤ 30 s) = {timing['ratio']}x reading them ({timing['read_seconds']} s), "
        f"load {timing['load'][0]}–{timing['load'][1]}; {timing['flagged_pairs']} pairs flagged, "
        f"{timing['sent']} sent, {timing['over_cap']} over the cap; planted raters: "
        f"consensus accuracy {raters['mean_consensus_accuracy']} vs majority "
        f"{raters['mean_majority_accuracy']}, order right {raters['order_right']}/{seeds}; "
        f"planted errors: recall {errors['mean_recall']} at budget {errors['mean_flag_budget']} "
        f"vs random {errors['mean_random_recall']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
