"""The calibration page and API of a campaign of 600k judgments and 1M grades (target in
bench/README.md).

Seeds (with ``COPY``, as ``bench/dashboards.py`` does, whose seeding it reuses) a campaign of
about 600k judgments by 50 annotators on 200k pairs of 133k candidates, then grades every
candidate and every pair in both orders by ``--versions`` grader versions (two: about 1.07M
grades). A campaign that large is served from its calibration snapshot, so the benchmark
computes the snapshot as a worker does (timed, printed for context), then times the page and
the API as a signed-in researcher, against the home page (a minimal signed-in view) as the
floor. The database is kept between runs (``--reseed`` to seed again).

    python -m bench.calibration [--small] [--reseed] [--keep-snapshot] [--judgments N]
                                [--versions V]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench import dashboards

BENCH_DATABASE = "graylab_bench_calibration"
CAMPAIGN_SLUG = "bench-calibration"
GRADER = "bench-calibration-judge"


def _campaign(slug: str) -> Any:
    from labeling.models import Campaign
    from policy.models import PolicyVersion
    from policy.seed import ensure_default_policy

    ensure_default_policy()
    version = PolicyVersion.objects.order_by("-number").first()
    campaign, _ = Campaign.objects.get_or_create(
        slug=slug, defaults={"name": "Calibration benchmark", "policy_version": version}
    )
    return campaign


def _has_pairs(campaign: Any) -> bool:
    from labeling.models import Pair

    return Pair.objects.filter(campaign=campaign).exists()


def _versions(campaign: Any, count: int) -> list[Any]:
    """``count`` versions of one grader (edited prompt each time), on a never-called endpoint."""
    from labeling.models import Grader, GraderVersion, ModelEndpoint

    endpoint, _ = ModelEndpoint.objects.get_or_create(
        name="bench-calibration",
        defaults={"base_url": "http://127.0.0.1:9/v1", "model": "graylab-offline"},
    )
    grader, _ = Grader.objects.get_or_create(name=GRADER)
    from labeling.grading.templates import DEFAULT_TEMPLATES

    versions = []
    for number in range(1, count + 1):
        version, _ = GraderVersion.objects.get_or_create(
            grader=grader,
            number=number,
            defaults={
                "endpoint": endpoint,
                "model": "graylab-offline",
                "policy_version": campaign.policy_version,
                "candidate_template": DEFAULT_TEMPLATES["candidate"] + "\n" * (number - 1),
                "pair_template": DEFAULT_TEMPLATES["pair"],
            },
        )
        versions.append(version)
    return versions


def seed_grades(campaign: Any, versions: list[Any], seed: int = 2) -> int:
    """Grade every candidate and every pair (both orders) of ``campaign`` by each version, with
    ``COPY``; values drawn at random from the rubric's scales (the time of a page served from
    a snapshot does not depend on them; the snapshot's computation barely does)."""
    from labeling.models import Candidate, Grade, Pair
    from policy.rubric import HELPFULNESS_GRADES, PREFERENCE_VALUES, RESPONSE_MODES, SEVERITY_LEVELS

    rng = random.Random(seed)
    now = datetime.now(UTC)
    candidate_ids = list(
        Candidate.objects.filter(prompt__campaign=campaign).values_list("id", flat=True)
    )
    pair_ids = list(Pair.objects.filter(campaign=campaign).values_list("id", flat=True))
    columns = [
        *("grader_version_id", "kind", "candidate_id", "pair_id", "order"),
        *("response_mode", "severity", "helpfulness", "preference", "confidence"),
        *("samples", "raw_answers", "created_at"),
    ]

    def rows() -> Any:
        for version in versions:
            for candidate_id in candidate_ids:
                yield (
                    version.pk, "candidate", candidate_id, None, "",
                    rng.choice(RESPONSE_MODES[:4]), rng.choice(SEVERITY_LEVELS[:3]),
                    rng.choice(HELPFULNESS_GRADES), None, rng.choice((1.0, 1.0, 0.67)),
                    3, "[]", now,
                )  # fmt: skip
            for pair_id in pair_ids:
                for order in ("ab", "ba"):
                    yield (
                        version.pk, "pair", None, pair_id, order, None, None, None,
                        rng.choice(PREFERENCE_VALUES), rng.choice((1.0, 0.67)), 3, "[]", now,
                    )  # fmt: skip

    dashboards._copy(Grade, columns, rows())
    return len(versions) * (len(candidate_ids) + 2 * len(pair_ids))


def _timed(client: Any, url: str, params: dict[str, str], repeat: int, check: bytes) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params)
        timings.append(time.perf_counter() - started)
        assert response.status_code in (200, 302) and check in response.content, (
            response.status_code
        )
    return statistics.median(timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny size in the current database")
    parser.add_argument("--judgments", type=int, default=600_000)
    parser.add_argument("--versions", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
        help="full mode only: the benchmark's own database (created if missing, kept)",
    )
    parser.add_argument("--reseed", action="store_true", help="full mode: seed again")
    parser.add_argument(
        "--keep-snapshot",
        action="store_true",
        help="time the pages on the snapshot already stored (skip its computation)",
    )
    args = parser.parse_args(argv)

    if args.small:
        dashboards._setup_django(None)
        from django.core.management import call_command

        from labeling.grading import calibration

        call_command("migrate", verbosity=0, interactive=False)

        # A small campaign is computed in the request; the snapshot path is what is measured.
        # The suite runs this in its own process: the limit is put back when the run ends.
        live_pairs_max = calibration.LIVE_PAIRS_MAX
        calibration.LIVE_PAIRS_MAX = 0
        campaign = _campaign(f"{CAMPAIGN_SLUG}-small")
        if not _has_pairs(campaign):
            dashboards.seed_small(campaign)
        from labeling.models import Grade

        if not Grade.objects.filter(grader_version__grader__name=GRADER).exists():
            seed_grades(campaign, _versions(campaign, args.versions))
        repeat = 1
    else:
        dashboards._ensure_database(args.database_url)
        dashboards._setup_django(args.database_url)
        from django.core.management import call_command
        from django.db import connection, transaction

        call_command("migrate", verbosity=0, interactive=False)
        campaign = _campaign(CAMPAIGN_SLUG)
        if args.reseed or not _has_pairs(campaign):
            connection.close()
            dashboards._ensure_database(args.database_url, fresh=True)
            call_command("migrate", verbosity=0, interactive=False)
            campaign = _campaign(CAMPAIGN_SLUG)
            started = time.perf_counter()
            with transaction.atomic():
                judgments = dashboards.seed_copy(campaign, args.judgments)
            print(f"seeded {judgments} judgments in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            with transaction.atomic():
                grades = seed_grades(campaign, _versions(campaign, args.versions))
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            print(f"seeded {grades} grades in {time.perf_counter() - started:.1f} s")
        repeat = args.repeat
    try:
        return _measure(args, campaign, repeat)
    finally:
        if args.small:
            from labeling.grading import calibration

            calibration.LIVE_PAIRS_MAX = live_pairs_max


def _measure(args: argparse.Namespace, campaign: Any, repeat: int) -> int:
    """Time the calibration page and API on the campaign's snapshot against the home page."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from labeling.grading import calibration
    from labeling.models import Grade, Judgment

    judgments = Judgment.objects.filter(pair__campaign=campaign).count()
    grades = Grade.objects.filter(grader_version__grader__name=GRADER).count()
    snapshot = calibration.calibration_snapshot(campaign)
    if not (args.keep_snapshot and snapshot is not None and snapshot.computed_at is not None):
        snapshot = calibration.calibration_snapshot_refresh(campaign_id=campaign.pk)
    assert snapshot is not None and calibration.served_from_snapshot(campaign)
    computed = snapshot.compute_seconds

    user, _ = User.objects.get_or_create(username="bench-researcher")
    user.groups.add(Group.objects.get_or_create(name="researcher")[0])
    client = Client()
    client.force_login(user)
    page_url = f"/campaigns/{campaign.slug}/calibration/"
    api_url = f"/api/v1/campaigns/{campaign.slug}/calibration/"
    for url, params in (("/", {}), (page_url, {}), (api_url, {"grader": GRADER})):
        client.get(url, params)  # warm
    floor = _timed(client, "/", {}, repeat, b"")
    page = _timed(client, page_url, {}, repeat, b'id="calibration-age"')
    api = _timed(client, api_url, {"grader": GRADER}, repeat, b'"computed_at"')
    slowest = max(page, api)
    print(
        f"calibration: judgments={judgments} grades={grades}; snapshot computed in "
        f"{computed:.1f} s (what a worker spends on a recompute)"
    )
    print(
        f"page {page * 1000:.1f} ms, API {api * 1000:.1f} ms, home (floor) {floor * 1000:.1f} ms "
        f"(medians of {repeat})"
    )
    ok = slowest <= 1.0
    print(
        f"SUMMARY calibration: page {page:.3f} s, API {api:.3f} s at {judgments} judgments and "
        f"{grades} grades (target <= 1.0 s, from a snapshot stating its age); "
        f"max / home {slowest / (floor or 1e-9):.1f} -> {'PASS' if ok else 'BELOW TARGET'}"
    )
    return 0 if args.small or ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
