"""How many grader errors a human budget finds under each routing (target in bench/README.md).

On the vendored XSTest completions (GPT-4's, each with XSTest's human labels) every prompt gets
a second candidate, written by the offline model server in the refusal or the safe-completion
style, so each prompt has one pair. The offline server's grader stand-in, at a grader error rate
of 20 %, grades every candidate and every pair (both orders) through a real grading run on real
Celery worker processes. Then one simulated annotator spends a human budget (``--budget``, a
share of the pairs) through the real claim (``assignment_claim``, one judgment per pair): once
with the campaign's routing ``uniform``, once ``grader-first`` by that grader, the judgments
of the first removed before the second.

**A grader error on a pair**: the grader's response mode for the pair's XSTest candidate differs
from XSTest's final human label (mapped onto the rubric's response modes as calibration maps it,
``PRIOR_LABEL_TO_RESPONSE_MODE``). The other candidate has no human label, so it never counts.
Each simulated human judgment reveals whether its pair carries such an error.

Figure: grader errors found per human judgment under each routing, and their ratio
grader-first ÷ uniform. Target ≥ 2. The share of erring pairs in the whole campaign (what a
random order would find per judgment) is printed for context.

    python -m bench.routing [--small] [--error-rate 0.2] [--budget 0.2] [--processes 2]

Small mode (``--small``: 60 prompts), run by the test suite so the benchmark never rots.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._setup import bench_campaign, django_setup

ROOT = Path(__file__).resolve().parent.parent
SLUG = "bench-routing"
GRADER = "bench-routing-judge"
SOURCE = "gpt4"
STYLES = ("refusal-style", "safe-completion-style")


def _worker() -> subprocess.Popen[bytes]:
    """A Celery worker process on the grading and default queues, as in production."""
    from django.conf import settings

    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker"),
            *("-Q", "grading,default", "--pool", "threads", "--concurrency", "4"),
            *("--loglevel", "ERROR", "--without-heartbeat", "--without-mingle"),
            *(
                "--without-gossip",
                "--hostname",
                f"bench-routing-{os.getpid()}-{time.monotonic_ns()}@%h",
            ),
        ],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY},
        start_new_session=True,
    )


def _subset(path: Path, limit: int | None) -> io.BytesIO:
    """The CSV file, or its header and first ``limit`` rows."""
    text = path.read_text(encoding="utf-8")
    if limit is None:
        return io.BytesIO(text.encode("utf-8"))
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out).writerows(rows[: limit + 1])
    return io.BytesIO(out.getvalue().encode("utf-8"))


def _seed(campaign: Any, limit: int | None) -> None:
    """XSTest prompts with GPT-4's labelled completions, and one offline candidate each."""
    from labeling.demo import DEMO_DATA
    from labeling.generation.styles import BUILT_IN
    from labeling.imports.candidates import candidate_import
    from labeling.imports.prompts import prompt_import
    from offline_model import responses

    mapping = json.loads((DEMO_DATA / "mapping.json").read_text(encoding="utf-8"))
    prompt_import(
        campaign=campaign,
        source=_subset(DEMO_DATA / "xstest_prompts.csv", limit),
        file_format="xstest",
        mapping=mapping,
    )
    candidate_import(
        campaign=campaign,
        source=_subset(DEMO_DATA / "xstest_v2_completions_gpt4.csv", limit),
        file_format="xstest-completions",
        source_name=SOURCE,
        mapping=mapping,
    )
    rows = []
    for index, prompt in enumerate(campaign.prompts.order_by("id")):
        style = BUILT_IN[STYLES[index % 2]]
        messages = [{"role": "system", "content": style["system_prompt"]}, *prompt.messages]
        text, *_rest = responses.generate_text(
            messages, 1, 0, 256, model="graylab-offline", temperature=0.7
        )
        rows.append(
            {"external_id": prompt.external_id, "source": style["name"], "completion": text}
        )
    body = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
    candidate_import(campaign=campaign, source=io.BytesIO(body), file_format="jsonl")


def _grade(campaign: Any, error_rate: float, processes: int) -> Any:
    """Grade every candidate and pair with the offline grader stand-in; the grader version."""
    from labeling.generation.endpoints import endpoint_create
    from labeling.grading import runs
    from labeling.grading.services import grader_create
    from labeling.models import Grader, GradingRun, ModelEndpoint
    from offline_model.server import OfflineModelServer

    server = OfflineModelServer("127.0.0.1", 0, latency_ms=5, seed=7, grader_error_rate=error_rate)
    server.start()
    workers = [_worker() for _ in range(processes)]
    try:
        Grader.objects.filter(name=GRADER).delete()
        ModelEndpoint.objects.filter(name=GRADER).delete()
        endpoint = endpoint_create(
            name=GRADER, base_url=server.base_url, model="graylab-offline",
            timeout_seconds=30.0, concurrency_limit=16,
        )  # fmt: skip
        version = grader_create(
            name=GRADER,
            description="The offline grader stand-in (not a real model), for bench/routing.py.",
            endpoint=endpoint, policy_version=campaign.policy_version,
            samples=3, temperature=0.7, seed=1,
        )  # fmt: skip
        run = runs.run_create(campaign=campaign, grader_version=version)
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            runs.run_recover(run_id=run.pk)
            run.refresh_from_db()
            if not run.is_active:
                break
            if all(worker.poll() is not None for worker in workers):
                raise SystemExit("the grading workers exited; see their output above")
            time.sleep(0.5)
        if run.status != GradingRun.Status.COMPLETED:
            raise SystemExit(f"the grading run ended {run.status}: {run.error}")
        print(f"graded: {run.graded} of {run.planned} planned grades ({run.failed} failed)")
        return version
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        server.stop()


def grader_errors(campaign: Any, version: Any) -> dict[int, bool]:
    """Per pair: whether the grader's response mode of its XSTest candidate is wrong (see the
    module docstring); pairs whose XSTest candidate has no usable label or grade are left out."""
    from labeling.models import Grade, Pair
    from labeling.quality.agreement import PRIOR_LABEL_TO_RESPONSE_MODE

    graded = dict(
        Grade.objects.filter(
            grader_version=version, kind=Grade.Kind.CANDIDATE, candidate__prompt__campaign=campaign
        ).values_list("candidate_id", "response_mode")
    )
    errors = {}
    pairs = Pair.objects.filter(campaign=campaign).select_related("candidate_a", "candidate_b")
    for pair in pairs:
        labelled = [c for c in (pair.candidate_a, pair.candidate_b) if c.source == SOURCE]
        if not labelled:
            continue
        candidate = labelled[0]
        label = (candidate.prior_labels.get("xstest") or {}).get("final_label", "")
        truth = PRIOR_LABEL_TO_RESPONSE_MODE.get(str(label).strip())
        if truth is None or candidate.pk not in graded:
            continue
        errors[pair.pk] = graded[candidate.pk] != truth
    return errors


def _spend(campaign: Any, routing: str, version: Any, budget: int, annotator: Any) -> list[int]:
    """Clear the judgments, route the campaign, and spend the budget through the real claim:
    the pairs judged, in order."""
    from labeling.annotation import services
    from labeling.campaigns.services import campaign_update
    from labeling.models import Assignment, Campaign, Judgment, Pair
    from labeling.routing.services import routing_recompute

    Judgment.objects.filter(pair__campaign=campaign).delete()
    Assignment.objects.filter(campaign=campaign).delete()
    Pair.objects.filter(campaign=campaign).update(judgment_count=0)
    campaign = Campaign.objects.get(pk=campaign.pk)
    campaign_update(
        campaign=campaign,
        routing=routing,
        routing_grader=version.grader if routing == Campaign.Routing.GRADER_FIRST else None,
        human_budget=budget,
    )
    routing_recompute(campaign_id=campaign.pk)
    campaign = Campaign.objects.get(pk=campaign.pk)
    judged = []
    body = {
        "left": {"response_mode": "safe_completion", "severity": "none", "helpfulness": 3},
        "right": {"response_mode": "safe_completion", "severity": "none", "helpfulness": 3},
        "preference": 0,
        "rationale": "",
        "flags": [],
    }
    result = services.assignment_claim(campaign=campaign, annotator=annotator)
    while result.assignment is not None:
        judged.append(result.assignment.pair_id)
        _judgment, _created, result = services.judgment_submit_and_claim_next(
            assignment_id=result.assignment.pk, annotator=annotator, campaign=campaign, data=body
        )
    if result.reason != "budget":
        raise SystemExit(f"{routing}: the claim stopped with {result.reason!r}, not the budget")
    return judged


def _clear() -> None:
    """Remove an earlier run's campaign (its judgments first: they protect their leases)."""
    from labeling.models import Campaign, Judgment

    Judgment.objects.filter(pair__campaign__slug=SLUG).delete()
    Campaign.objects.filter(slug=SLUG).delete()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="60 prompts (for the test suite)")
    parser.add_argument("--prompts", type=int, default=None, help="the first N XSTest prompts")
    parser.add_argument("--error-rate", type=float, default=0.2, help="the grader's error rate")
    parser.add_argument("--budget", type=float, default=0.2, help="human budget: share of pairs")
    parser.add_argument("--processes", type=int, default=2, help="grading worker processes")
    args = parser.parse_args(argv)
    django_setup()
    from django.contrib.auth.models import Group, User

    from labeling.models import Campaign

    limit = args.prompts or (60 if args.small else None)
    _clear()
    campaign = bench_campaign(SLUG)
    Campaign.objects.filter(pk=campaign.pk).update(
        judgments_per_pair=1, status=Campaign.Status.OPEN
    )
    campaign.refresh_from_db()
    started = time.monotonic()
    _seed(campaign, limit)
    version = _grade(campaign, args.error_rate, args.processes)
    errors = grader_errors(campaign, version)
    pairs = len(errors)
    budget = max(1, round(args.budget * pairs))
    annotator, _ = User.objects.get_or_create(username="bench-routing-annotator")
    annotator.groups.add(Group.objects.get_or_create(name="annotator")[0])
    found: dict[str, float] = {}
    for routing in (Campaign.Routing.UNIFORM, Campaign.Routing.GRADER_FIRST):
        judged = _spend(campaign, routing, version, budget, annotator)
        hits = sum(errors.get(pair_id, False) for pair_id in judged)
        found[routing] = hits / len(judged)
        print(
            f"{routing:>12}: {len(judged)} human judgments found {hits} grader errors = "
            f"{found[routing]:.3f} per judgment"
        )
    total = sum(errors.values())
    ratio = found["grader-first"] / found["uniform"] if found["uniform"] else float("inf")
    print(
        f"campaign: {pairs} pairs, {total} with a grader error ({total / pairs:.3f} per pair: "
        f"what a random order finds per judgment); set-up and grading "
        f"{time.monotonic() - started:.0f} s"
    )
    print(
        f"SUMMARY routing: pairs={pairs} budget={budget} error_rate={args.error_rate} | "
        f"uniform {found['uniform']:.3f}/judgment | grader-first "
        f"{found['grader-first']:.3f}/judgment | ratio={ratio:.2f} target>=2 -> "
        f"{'PASS' if ratio >= 2 else 'BELOW TARGET'}"
    )
    if not os.environ.get("BENCH_ROUTING_KEEP"):
        _clear()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
