"""Head-to-head comparisons on a planted campaign (figures in bench/README.md).

Three sources with Bradley–Terry strengths A = logit(0.65), B = 0, C = −logit(0.65), so A is
preferred over B with probability 0.65, B over C with 0.65 and A over C with about 0.775. Each
prompt has one candidate of each source and their three pairs; each pair is judged by
``--judges`` annotators, every judgment drawn independently at those probabilities. The
benchmark checks that the A-vs-B win rate's 95% interval covers 0.65 and that the ranking is
A, B, C, and, over ``--replicates`` campaigns drawn in memory with other seeds, how often each
pair's interval covers its true rate (about 0.95 if the intervals are right). The time of the
whole report (win rates and the ranking, 1000 resamples each) is set against a floor: reading
the same judgments with their pairs' sources.

    python -m bench.compare [--small] [--prompts N] [--judges K] [--replicates R]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from bench import dashboards

CAMPAIGN_SLUG = "bench-compare"
P_AB = 0.65
STRENGTHS = {"A": math.log(P_AB / (1 - P_AB)), "B": 0.0, "C": -math.log(P_AB / (1 - P_AB))}


def truth(first: str, second: str) -> float:
    """The planted probability that ``first`` is preferred over ``second``."""
    return 1 / (1 + math.exp(STRENGTHS[second] - STRENGTHS[first]))


def seed_campaign(*, prompts: int, judges: int, seed: int) -> Any:
    """The planted campaign, written in bulk."""
    from django.contrib.auth.models import User

    from bench._setup import bench_campaign
    from labeling.models import Candidate, Judgment, Pair, Prompt

    rng = np.random.default_rng(seed)
    campaign = bench_campaign(CAMPAIGN_SLUG)
    annotators = [
        User.objects.get_or_create(username=f"bench-compare-{index}")[0] for index in range(judges)
    ]
    prompt_rows = Prompt.objects.bulk_create(
        Prompt(
            campaign=campaign,
            messages=[{"role": "user", "content": f"planted question {index}"}],
            category_path="benign/general",
            intent="benign" if index % 2 else "dual_use",
            content_hash=f"compare-{campaign.pk}-{index}",
        )
        for index in range(prompts)
    )
    candidates = Candidate.objects.bulk_create(
        Candidate(
            prompt=prompt,
            text=f"answer of {name} to {prompt.pk}",
            source=name,
            model=name,
            idempotency_key=f"compare-{campaign.pk}-{prompt.pk}-{name}",
        )
        for prompt in prompt_rows
        for name in STRENGTHS
    )
    pairs = []
    for start in range(0, len(candidates), 3):
        trio = candidates[start : start + 3]
        for first, second in ((0, 1), (0, 2), (1, 2)):
            a, b = trio[first], trio[second]  # created in order: a's id is the lower
            pairs.append(Pair(prompt=a.prompt, campaign=campaign, candidate_a=a, candidate_b=b))
    Pair.objects.bulk_create(pairs)
    judgments = []
    for pair in pairs:
        p_a = truth(pair.candidate_a.source, pair.candidate_b.source)
        for annotator in annotators:
            preference = -1 if rng.random() < p_a else 1
            judgments.append(
                Judgment(
                    pair=pair,
                    annotator=annotator,
                    policy_version=campaign.policy_version,
                    a_response_mode="direct_answer",
                    a_severity="none",
                    a_helpfulness=3,
                    b_response_mode="direct_answer",
                    b_severity="none",
                    b_helpfulness=3,
                    preference=preference,
                    left_is_a=bool(rng.random() < 0.5),
                )
            )
    Judgment.objects.bulk_create(judgments, batch_size=5000)
    return campaign


def coverage(*, pairs: int, judges: int, replicates: int, reps: int) -> dict[str, float]:
    """Share of ``replicates`` planted data sets whose interval covers the true rate, per pair
    of sources, and how often the ranking comes out A, B, C; drawn in memory."""
    from labeling.compare.figures import Comparisons, bradley_terry, head_to_head

    names = list(STRENGTHS)
    covered = {f"{a}>{b}": 0 for a, b in (("A", "B"), ("A", "C"), ("B", "C"))}
    ordered = 0
    for replicate in range(replicates):
        rng = np.random.default_rng(1000 + replicate)
        first = np.repeat(np.array([0, 0, 1]), pairs * judges)
        second = np.repeat(np.array([1, 2, 2]), pairs * judges)
        cluster = np.repeat(np.arange(3 * pairs), judges)
        p = np.array([truth(names[f], names[s]) for f, s in zip(first, second, strict=True)])
        score = (rng.random(p.size) < p).astype(np.float64)
        data = Comparisons(names, cluster, first, second, score, int(score.size), 0)
        for row in head_to_head(data, reps=reps, seed=replicate):
            low, high = row["ci95"]
            if low <= truth(row["first"], row["second"]) <= high:
                covered[f"{row['first']}>{row['second']}"] += 1
        ranking = bradley_terry(data, reps=0, seed=replicate)["ranking"]
        ordered += [row["source"] for row in ranking] == names
    shares = {name: count / replicates for name, count in covered.items()}
    return {**shares, "order": ordered / replicates}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny size in the current database")
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--judges", type=int, default=3)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.small:
        args.prompts, args.judges, args.replicates = 300, 1, 20
    dashboards._setup_django(None)
    from django.core.management import call_command
    from django.db import connection

    from labeling.compare.figures import comparison_report
    from labeling.models import Judgment

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    campaign = seed_campaign(prompts=args.prompts, judges=args.judges, seed=args.seed)
    print(
        f"seeded {args.prompts} prompts, {3 * args.prompts} pairs, "
        f"{3 * args.prompts * args.judges} judgments in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    rows = list(
        Judgment.objects.filter(pair__campaign=campaign).values_list(
            "pair_id", "preference", "pair__candidate_a__model", "pair__candidate_b__model"
        )
    )
    floor = time.perf_counter() - started
    started = time.perf_counter()
    report = comparison_report(campaign=campaign, source="human", seed=args.seed)
    elapsed = time.perf_counter() - started
    for row in report["head_to_head"]:
        planted = truth(row["first"], row["second"])
        print(
            f"{row['first']} vs {row['second']}: win rate {row['win_rate']:.3f} "
            f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}] over {row['pairs']} pairs, "
            f"planted {planted:.3f}"
        )
    for row in report["ranking"]:
        print(
            f"rank {row['rank']}: {row['source']} strength {row['strength']:.3f} "
            f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}] (planted "
            f"{STRENGTHS[row['source']]:.3f})"
        )
    ab = next(row for row in report["head_to_head"] if (row["first"], row["second"]) == ("A", "B"))
    covers = ab["ci95"][0] <= P_AB <= ab["ci95"][1]
    order = [row["source"] for row in report["ranking"]] == list(STRENGTHS)
    shares = coverage(pairs=args.prompts, judges=args.judges, replicates=args.replicates, reps=1000)
    print(
        f"over {args.replicates} planted data sets: interval covers the truth "
        + ", ".join(f"{name} {share:.2f}" for name, share in shares.items() if name != "order")
        + f"; ranking A, B, C in {shares['order']:.2f}"
    )
    print(f"report {elapsed:.3f} s; floor (reading the {len(rows)} judgments) {floor:.3f} s")
    connection.close()
    print(
        f"SUMMARY compare ab_covers_0.65={'yes' if covers else 'no'} "
        f"order_right={'yes' if order else 'no'} coverage_ab={shares['A>B']:.2f} "
        f"order_share={shares['order']:.2f} report_s={elapsed:.3f} floor_s={floor:.3f} "
        f"ratio={elapsed / max(floor, 1e-9):.1f}"
    )
    return 0 if covers and order else 1


if __name__ == "__main__":
    raise SystemExit(main())
