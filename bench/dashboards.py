"""Dashboards at scale: every quality dashboard answers in ≤ 1 s at 1M judgments.

Full mode (the figure for the notes)::

    python -m bench.dashboards                   # 1M judgments in database graylab_bench_dash
    python -m bench.dashboards --judgments 200000 --database-url postgres://…/other

seeds (once; reused while the size matches) a campaign with ~333k pairs and 3 judgments each by
50 annotators using PostgreSQL ``COPY``, then times ``--repeat`` times:

* **page answers** — each dashboard page as a signed-in researcher gets it: its figures
  computed in the request from the pre-aggregates the judgment writes keep current, rendered
  with its charts' data; the floor beside it is the home page, a minimal signed-in view. This
  is the figure the ≤ 1 s target is about;
* **scan** — the same figures computed from a scan of the judgments (SQL GROUP BYs plus
  pandas, the path SQLite takes), against a bare ``SELECT count(*)`` of the campaign's
  judgments: what the pre-aggregates save.

* **write** — one judgment inserted (one statement, rolled back) with the triggers that keep
  the pre-aggregates current and with them disabled (PostgreSQL only): what live dashboards
  cost each judgment.

Seeding loads the judgments with one ``COPY``, so the triggers add the million judgments to
the pre-aggregates in one statement.

Small mode (``--small``, run by the test suite so the benchmark never rots) seeds a few hundred
judgments through the ORM in the current database and runs the same code once.

The last line printed is the summary: ``dashboards: judgments=… safety=…s modes=…s
annotators=…s max=…s target≤1.0s home=…s max/home=… scan: safety=…s … write: …ms vs …ms``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy.rubric import (
    CANONICAL_SIDES,
    HELPFULNESS_FIELD,
    INTENTS,
    JUDGMENT_RATING_COLUMNS,
    JUDGMENT_VALUE_COLUMNS,
    PREFERENCE_FIELD,
    PREFERENCE_MAX,
    PREFERENCE_MIN,
    RESPONSE_MODE_FIELD,
    SEVERITY_FIELD,
    SEVERITY_LEVELS,
    TIME_ON_TASK_FIELD,
    Flag,
    ResponseMode,
    Severity,
    side_field,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "graylab_bench_dash"
CAMPAIGN_SLUG = "bench-dashboards"
CATEGORIES = [
    "biology/weaponization",
    "biology/high-risk-dual-use",
    "biology/low-risk-dual-use",
    "chemistry/weapons",
    "chemistry/dual-use",
    "cybersecurity/malware-intrusion",
    "cybersecurity/dual-use-security",
    "weapons/conventional",
    "weapons/explosives",
    "violent-wrongdoing/attack-planning",
    "violent-wrongdoing/threats",
    "nonviolent-wrongdoing/fraud-scams",
    "nonviolent-wrongdoing/theft-evasion",
    "nonviolent-wrongdoing/drugs",
    "hate-harassment/hate",
    "hate-harassment/harassment",
    "hate-harassment/extremism",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual-content/adult",
    "personal-data/public-figures",
    "personal-data/private-individuals",
    "benign/general",
]
STYLES = ["refusal-style", "safe-completion-style"]
MODELS = ["model-small", "model-large"]
# Safe-completion style answers directly or safe-completes; refusal style refuses or answers.
SAFE_STYLE_MODES = (ResponseMode.DIRECT_ANSWER.value, ResponseMode.SAFE_COMPLETION.value)
REFUSAL_STYLE_MODES = (
    ResponseMode.REFUSAL_WITH_REDIRECTION.value,
    ResponseMode.HARD_REFUSAL.value,
    ResponseMode.DIRECT_ANSWER.value,
)
# The flags column of the few judgments that raise one.
EXPERT_FLAGS = f'["{Flag.NEEDS_EXPERT.value}"]'
ANNOTATORS = 50
PAIRS_PER_PROMPT = 6  # four candidates (2 styles × 2 models) give six pairs
JUDGMENTS_PER_PAIR = 3


def _setup_django(database_url: str | None) -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


def _ensure_database(database_url: str, *, fresh: bool = False) -> None:
    """Create the benchmark database if missing (or drop and create it when ``fresh``)."""
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if fresh:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def _campaign(slug: str) -> Any:
    from labeling.models import Campaign
    from policy.models import PolicyVersion
    from policy.seed import ensure_default_policy

    ensure_default_policy()
    version = PolicyVersion.objects.order_by("-number").first()
    campaign, _ = Campaign.objects.get_or_create(
        slug=slug,
        defaults={"name": "Dashboards benchmark", "policy_version": version, "gold_rate": 0.05},
    )
    return campaign


def _annotators(prefix: str) -> list[int]:
    from django.contrib.auth.models import User

    ids = []
    for index in range(ANNOTATORS):
        user, created = User.objects.get_or_create(username=f"{prefix}{index:02d}")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        ids.append(user.pk)
    return ids


def _judgment_values(rng: random.Random, style: tuple[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for side, name in zip(CANONICAL_SIDES, style, strict=True):
        safe_style = name == "safe-completion-style"
        mode = rng.choice(SAFE_STYLE_MODES if safe_style else REFUSAL_STYLE_MODES)
        level = int(rng.expovariate(1.6 if safe_style else 1.0))
        severity = SEVERITY_LEVELS[min(len(SEVERITY_LEVELS) - 1, level)]
        values[side_field(side, RESPONSE_MODE_FIELD)] = mode
        values[side_field(side, SEVERITY_FIELD)] = severity
        values[side_field(side, HELPFULNESS_FIELD)] = (
            rng.randint(2, 4) if safe_style else rng.randint(1, 3)
        )
    values[PREFERENCE_FIELD] = rng.randint(PREFERENCE_MIN, PREFERENCE_MAX)
    return values


def _copy(model: Any, columns: list[str], rows: Any) -> None:
    """COPY rows (tuples in ``columns`` order) into ``model``'s table.

    Other NOT NULL columns (added by other parts of the app) get their field defaults, so the
    benchmark keeps working as the models grow.
    """
    import json

    from django.db import connection

    extra = [
        field
        for field in model._meta.concrete_fields
        if field.column not in columns and not field.null and not field.primary_key
    ]
    defaults = []
    for field in extra:
        value = field.get_default()
        defaults.append(json.dumps(value) if isinstance(value, dict | list) else value)
    # Quoted: a column may be named as an SQL keyword (a grade's "order").
    names = ", ".join(
        connection.ops.quote_name(name) for name in columns + [f.column for f in extra]
    )
    table = model._meta.db_table
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, *defaults))


def _next_id(model: Any) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(top=Max("id"))["top"] or 0) + 1


def _reset_sequences(*models: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            # table names come from the models, never from input
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"  # noqa: S608, E501
            cursor.execute(sql)


def seed_copy(campaign: Any, judgments: int, seed: int = 1) -> int:
    """Seed ``campaign`` with about ``judgments`` judgments using COPY; returns the count."""
    import json

    from labeling.models import Candidate, Judgment, Pair, Prompt

    rng = random.Random(seed)
    annotators = _annotators("bench-annotator-")
    prompts = max(1, judgments // (PAIRS_PER_PROMPT * JUDGMENTS_PER_PAIR))
    start = datetime(2026, 10, 1, tzinfo=UTC)
    prompt_id, candidate_id, pair_id = _next_id(Prompt), _next_id(Candidate), _next_id(Pair)
    prompt_rows, candidate_rows, pair_rows, judgment_rows = [], [], [], []
    pair_styles: list[tuple[int, tuple[str, str]]] = []
    for index in range(prompts):
        pid = prompt_id + index
        category = CATEGORIES[index % len(CATEGORIES)]
        intent = INTENTS[(index // len(CATEGORIES)) % len(INTENTS)]
        prompt_rows.append(
            (
                pid,
                campaign.pk,
                json.dumps([{"role": "user", "content": f"bench prompt {index}"}]),
                category,
                intent,
                f"bench-{index}",
                f"bench-hash-{index}",
                "{}",
                start,
            )
        )
        ids = []
        for style in STYLES:
            for model in MODELS:
                cid = candidate_id
                candidate_id += 1
                ids.append((cid, style))
                text = f"{style} answer by {model} " + "x" * rng.randint(50, 600)
                candidate_rows.append(
                    (cid, pid, text, model, model, style, 0, f"bench-{cid}", "{}", start)
                )
        for first in range(len(ids)):
            for second in range(first + 1, len(ids)):
                pair_rows.append(
                    (
                        pair_id,
                        pid,
                        campaign.pk,
                        ids[first][0],
                        ids[second][0],
                        False,
                        JUDGMENTS_PER_PAIR,
                        start,
                    )
                )
                pair_styles.append((pair_id, (ids[first][1], ids[second][1])))
                pair_id += 1
    judgment_id = _next_id(Judgment)
    version_id = campaign.policy_version_id
    for pid, styles in pair_styles:
        for annotator in rng.sample(annotators, JUDGMENTS_PER_PAIR):
            values = _judgment_values(rng, styles)
            created = start + timedelta(seconds=rng.randint(0, 30 * 86400))
            judgment_rows.append(
                (
                    judgment_id,
                    pid,
                    annotator,
                    version_id,
                    *(values[column] for column in JUDGMENT_RATING_COLUMNS),
                    "",
                    "[]" if rng.random() > 0.01 else EXPERT_FLAGS,
                    "",
                    rng.random() < 0.5,
                    rng.randint(4000, 90000),
                    created,
                    created,
                )
            )
            judgment_id += 1
    _copy(
        Prompt,
        [
            "id",
            "campaign_id",
            "messages",
            "category_path",
            "intent",
            "external_id",
            "content_hash",
            "metadata",
            "created_at",
        ],
        prompt_rows,
    )
    _copy(
        Candidate,
        [
            "id",
            "prompt_id",
            "text",
            "source",
            "model",
            "style",
            "sample_index",
            "idempotency_key",
            "prior_labels",
            "created_at",
        ],
        candidate_rows,
    )
    _copy(
        Pair,
        [
            "id",
            "prompt_id",
            "campaign_id",
            "candidate_a_id",
            "candidate_b_id",
            "is_gold",
            "judgment_count",
            "created_at",
        ],
        pair_rows,
    )
    _copy(
        Judgment,
        [
            "id",
            "pair_id",
            "annotator_id",
            "policy_version_id",
            *JUDGMENT_VALUE_COLUMNS,
            "left_is_a",
            TIME_ON_TASK_FIELD,
            "created_at",
            "updated_at",
        ],
        judgment_rows,
    )
    # A few gold pairs, so the gold-accuracy column has work to do.
    gold = {
        "a": {"severity": Severity.NONE.value, "helpfulness": 3},
        "b": {"severity": Severity.NONE.value, "helpfulness": 3},
        "preference": 0,
        "severity_tolerance": 1,
        "helpfulness_tolerance": 1,
    }
    gold_ids = [row[0] for row in pair_rows[:: max(1, int(1 / 0.05))]]
    Pair.objects.filter(pk__in=gold_ids).update(is_gold=True, gold_answer=gold)
    _reset_sequences(Prompt, Candidate, Pair, Judgment)
    return len(judgment_rows)


def _analyze() -> None:
    """Fresh planner statistics after a bulk load (outside the seeding transaction)."""
    from django.db import connection

    from labeling.models import Candidate, Judgment, Pair, Prompt

    with connection.cursor() as cursor:
        for model in (Prompt, Candidate, Pair, Judgment):
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def seed_small(campaign: Any, judgments: int = 240, seed: int = 1) -> int:
    """A few hundred judgments through the ORM (any database backend)."""
    from labeling.models import Candidate, Judgment, Pair, Prompt

    rng = random.Random(seed)
    annotators = _annotators("bench-small-")
    created = 0
    index = 0
    while created < judgments:
        prompt = Prompt.objects.create(
            campaign=campaign,
            messages=[{"role": "user", "content": f"small {index}"}],
            category_path=CATEGORIES[index % len(CATEGORIES)],
            intent=INTENTS[index % len(INTENTS)],
            content_hash=f"small-{campaign.pk}-{index}",
        )
        candidates = [
            Candidate.objects.create(
                prompt=prompt,
                text=f"{style} {model} " + "y" * rng.randint(10, 200),
                source=model,
                model=model,
                style=style,
                idempotency_key=f"small-{campaign.pk}-{index}-{style}-{model}",
            )
            for style in STYLES
            for model in MODELS
        ]
        for first in range(len(candidates)):
            for second in range(first + 1, len(candidates)):
                pair = Pair.objects.create(
                    prompt=prompt, candidate_a=candidates[first], candidate_b=candidates[second]
                )
                styles = (candidates[first].style, candidates[second].style)
                Judgment.objects.bulk_create(
                    Judgment(
                        pair=pair,
                        annotator_id=annotator,
                        policy_version_id=campaign.policy_version_id,
                        left_is_a=rng.random() < 0.5,
                        time_on_task_ms=rng.randint(4000, 90000),
                        **_judgment_values(rng, styles),
                    )
                    for annotator in rng.sample(annotators, JUDGMENTS_PER_PAIR)
                )
                created += JUDGMENTS_PER_PAIR
        index += 1
    return created


def _judgment_count(campaign: Any) -> int:
    from labeling.models import Judgment

    return Judgment.objects.filter(pair__prompt__campaign=campaign).count()


def _scan(campaign: Any, slug: str) -> None:
    """One dashboard's tables computed from a scan of the judgments."""
    from labeling.quality import dashboards

    dashboard = dashboards.DASHBOARD_BY_SLUG[slug]
    if not dashboard.needs_ratings:
        dashboards.annotators_scanned(campaign=campaign)
        return
    frame = dashboards.rating_frame(dashboards.rating_counts_scanned(campaign=campaign))
    mapping = campaign.policy_version.severity_to_safety
    for name, _ in dashboard.tables:
        dashboards.TABLE_FUNCTIONS[name](frame, campaign=campaign, severity_to_safety=mapping)


def measure_scan(campaign: Any, repeat: int, *, fresh_connections: bool) -> dict[str, list]:
    """Seconds per computation of each dashboard from a scan of the judgments, and the
    floor."""
    from django.db import connection

    from labeling.quality.dashboards import DASHBOARDS

    timings: dict[str, list[float]] = {dashboard.slug: [] for dashboard in DASHBOARDS}
    timings["floor"] = []
    for _ in range(repeat):
        started = time.perf_counter()
        _judgment_count(campaign)
        timings["floor"].append(time.perf_counter() - started)
        for dashboard in DASHBOARDS:
            if fresh_connections:
                connection.close()  # a new connection, as the next request could get
            started = time.perf_counter()
            _scan(campaign, dashboard.slug)
            timings[dashboard.slug].append(time.perf_counter() - started)
    return timings


def measure_pages(campaign: Any, repeat: int) -> dict[str, list[float]]:
    """Seconds per answer of each dashboard page (signed in, figures computed in the request),
    and of the home page as the floor (a minimal signed-in view)."""
    from django.contrib.auth.models import Group, User
    from django.test import Client
    from django.urls import reverse

    from labeling.quality.dashboards import DASHBOARDS

    user, _ = User.objects.get_or_create(username="bench-researcher")
    group, _ = Group.objects.get_or_create(name="researcher")
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    timings: dict[str, list[float]] = {dashboard.slug: [] for dashboard in DASHBOARDS}
    timings["home"] = []
    url = reverse("labeling:dashboards")
    for _ in range(repeat):
        started = time.perf_counter()
        home = client.get("/")
        assert home.status_code in (200, 302), home.status_code
        timings["home"].append(time.perf_counter() - started)
        for dashboard in DASHBOARDS:
            started = time.perf_counter()
            response = client.get(url, {"campaign": campaign.slug, "view": dashboard.slug})
            timings[dashboard.slug].append(time.perf_counter() - started)
            assert response.status_code == 200 and b"Figures as of" in response.content
    return timings


def measure_write(campaign: Any, count: int) -> dict[str, list[float]]:
    """Seconds per judgment insert (one statement, rolled back) with the pre-aggregate
    triggers and with them disabled: what keeping the dashboards current costs a write."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from labeling.models import Judgment, Pair

    probe, _ = User.objects.get_or_create(username="bench-write-probe")
    pairs = list(
        Pair.objects.filter(prompt__campaign=campaign)
        .order_by("id")
        .values_list("id", flat=True)[: 2 * count]
    )
    rng = random.Random(2)
    timings: dict[str, list[float]] = {"triggers": [], "none": []}
    # All with the triggers first: disabling them changes the table, which makes PostgreSQL
    # plan the trigger functions again on their next call.
    for index, pair_id in enumerate(pairs):
        kind = "triggers" if index < len(pairs) // 2 else "none"
        with transaction.atomic():
            if kind == "none":
                with connection.cursor() as cursor:
                    # Deferred foreign-key checks still pending (small mode runs inside the
                    # test's transaction) would make PostgreSQL refuse the ALTER TABLE.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(f"ALTER TABLE {Judgment._meta.db_table} DISABLE TRIGGER USER")
            values = _judgment_values(rng, (STYLES[0], STYLES[1]))
            started = time.perf_counter()
            Judgment.objects.create(
                pair_id=pair_id,
                annotator=probe,
                policy_version_id=campaign.policy_version_id,
                left_is_a=True,
                time_on_task_ms=5000,
                **values,
            )
            timings[kind].append(time.perf_counter() - started)
            transaction.set_rollback(True)
    return timings


def _report_write(title: str, timings: dict[str, list[float]]) -> dict[str, float]:
    """Median and 95th percentile of many short timings, in milliseconds."""
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(title)
    for name, values in timings.items():
        p95 = sorted(values)[int(len(values) * 0.95)]
        print(
            f"  {name:<11} median {medians[name] * 1000:.2f} ms  p95 {p95 * 1000:.2f} ms  "
            f"max {max(values) * 1000:.2f} ms  of {len(values)}"
        )
    return medians


def _report(title: str, timings: dict[str, list[float]]) -> dict[str, float]:
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(title)
    for name, values in timings.items():
        print(
            f"  {name:<11} median {medians[name]:.3f} s  max {max(values):.3f} s  "
            f"runs {', '.join(f'{v:.3f}' for v in values)}"
        )
    return medians


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a summary line last. Returns 0 (or 1 over the target)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny size in the current database")
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
        help="full mode only: the benchmark's own database (created if missing)",
    )
    parser.add_argument("--reseed", action="store_true", help="full mode: seed again")
    parser.add_argument(
        "--pages-only", action="store_true", help="time the page answers only (not the scan)"
    )
    args = parser.parse_args(argv)

    if args.small:
        _setup_django(None)
        campaign = _campaign(f"{CAMPAIGN_SLUG}-small")
        seed_small(campaign)
        repeat = 1
    else:
        _ensure_database(args.database_url)
        _setup_django(args.database_url)
        from django.core.management import call_command
        from django.db import transaction

        call_command("migrate", verbosity=0, interactive=False)
        campaign = _campaign(CAMPAIGN_SLUG)
        existing = _judgment_count(campaign)
        target = (args.judgments // (PAIRS_PER_PROMPT * JUDGMENTS_PER_PAIR)) * (
            PAIRS_PER_PROMPT * JUDGMENTS_PER_PAIR
        )
        if args.reseed or existing != target:
            # Start from an empty database: deleting a million rows costs more than seeding.
            from django.db import connection

            connection.close()
            _ensure_database(args.database_url, fresh=True)
            call_command("migrate", verbosity=0, interactive=False)
            campaign = _campaign(CAMPAIGN_SLUG)
            started = time.perf_counter()
            with transaction.atomic():
                seeded = seed_copy(campaign, args.judgments)
            _analyze()
            print(f"seeded {seeded} judgments in {time.perf_counter() - started:.1f} s")
        repeat = args.repeat
    judgments = _judgment_count(campaign)
    scan = (
        {"safety": float("nan"), "modes": float("nan"), "annotators": float("nan"), "floor": 0.0}
        if args.pages_only
        else _report(
            "scan (the figures from the judgments themselves, per dashboard):",
            measure_scan(campaign, repeat, fresh_connections=not args.small),
        )
    )
    pages = _report(
        "page answers (figures computed in the request):", measure_pages(campaign, repeat)
    )
    from labeling.database import is_postgresql

    write = (
        _report_write(
            "one judgment written (rolled back), with the triggers and without:",
            measure_write(campaign, 20 if args.small else 200),
        )
        if is_postgresql()
        else {"triggers": float("nan"), "none": float("nan")}
    )
    names = [name for name in pages if name != "home"]
    slowest = max(pages[name] for name in names)
    floor = pages["home"] or 1e-9
    print(
        f"dashboards: judgments={judgments} "
        + " ".join(f"{name}={pages[name]:.3f}s" for name in names)
        + f" max={slowest:.3f}s target≤1.0s home={floor:.3f}s max/home={slowest / floor:.1f}"
        + " scan: "
        + " ".join(f"{name}={scan[name]:.2f}s" for name in names)
        + f" count(*)={scan['floor']:.3f}s"
        + f" write: {write['triggers'] * 1000:.2f}ms vs {write['none'] * 1000:.2f}ms"
    )
    return 0 if args.small or slowest <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
