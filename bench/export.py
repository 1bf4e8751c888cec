"""Export benchmark (target in bench/README.md): export time ÷ PostgreSQL COPY of the same
joined rows, and peak memory of the export job at two sizes.

Full mode: 1M judgments (≈333k pairs) in a database of its own (``graylab_bench_export`` on the
server of ``DATABASE_URL``), seeded with COPY; measured at 100k and at 1M judgments, for
``trl-preference`` and ``reward``. ``--small`` runs the same code on a few thousand judgments
in ``graylab_bench_export_small`` (the test suite runs it so it never rots). Each measurement
runs in a child process, so its peak RSS (``ru_maxrss``) is the job's own. The last line
printed is the summary.

The floor is ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` of the export's joined rows — one per
(pair, judgment), with the prompt and both candidate texts on every row — with the server's
default settings. The export itself reads one row per pair (the
judgments aggregated by the server) and turns JIT off for its stream, so each result line also
shows the same COPY with JIT off, to say how much of the ratio that setting accounts for.
The export time is the whole job: creating it (the pair count), streaming, writing, hashing,
the manifest, the dataset card and the archive.

    python bench/export.py            # full
    python bench/export.py --small    # seconds
    python bench/export.py --no-seed  # measure again on the data already seeded
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_DB = "graylab_bench_export"
PAIRS_PER_PROMPT = 3  # three candidates per prompt, every pair of them
JUDGMENTS_PER_PAIR = 3
CATEGORIES = (
    "biology/high-risk-dual-use",
    "biology/low-risk-dual-use",
    "chemistry/dual-use",
    "cybersecurity/dual-use-security",
    "cybersecurity/malware-intrusion",
    "weapons/conventional",
    "nonviolent-wrongdoing/fraud-scams",
    "self-harm/intent",
    "personal-data/public-figures",
    "benign/general",
)
FORMATS = ("trl-preference", "reward")
WORDS = (
    "the", "model", "explains", "general", "principles", "without", "operational", "detail",
    "and", "points", "to", "safe", "resources", "while", "declining", "the", "specific",
    "harmful", "steps", "requested", "by", "the", "user", "in", "question",
)  # fmt: skip


def _bench_url(base: str, *, small: bool) -> str:
    # The small run has a database of its own, so it never replaces the full run's data.
    name = f"{BENCH_DB}_small" if small else BENCH_DB
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parts.path.lstrip("/"),)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')


def _setup_django(database_url: str | None) -> None:
    """Configure Django on ``database_url`` unless it already is (as inside the test suite)."""
    from django.conf import settings

    if settings.configured:
        return
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _copy_rows(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """COPY rows into ``model``'s table; fields a row leaves out take the model's default."""
    from django.db import connection
    from django.db.models import JSONField
    from django.utils import timezone
    from psycopg.types.json import Jsonb

    fields = list(model._meta.concrete_fields)
    columns = ", ".join(f'"{field.column}"' for field in fields)
    now = timezone.now()
    defaults = {}
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            defaults[field.attname] = now
        else:
            # Django's own default: the declared one, "" for non-null text, else None.
            defaults[field.attname] = field.get_default()
    json_fields = {field.attname for field in fields if isinstance(field, JSONField)}
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                values = []
                for field in fields:
                    value = row.get(field.attname, defaults[field.attname])
                    if field.attname in json_fields and value is not None:
                        value = Jsonb(value)
                    values.append(value)
                copy.write_row(values)
                count += 1
    return count


def seed(*, judgments: list[int], seed_value: int = 7) -> dict[str, Any]:
    """Fill the database: one campaign per size step, so a selection of the first campaigns
    holds exactly the judgments asked for (e.g. [100_000, 1_000_000])."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from labeling.models import Campaign, Candidate, Judgment, Pair, Prompt
    from policy.models import PolicyVersion
    from policy.rubric import (
        CANONICAL_SIDES,
        HELPFULNESS_FIELD,
        HELPFULNESS_MAX,
        HELPFULNESS_MIN,
        INTENTS,
        PREFERENCE_FIELD,
        PREFERENCE_MAX,
        PREFERENCE_MIN,
        RESPONSE_MODE_FIELD,
        RESPONSE_MODES,
        SEVERITY_FIELD,
        SEVERITY_LEVELS,
        Severity,
        side_field,
    )

    # Most sides are compliant: ``none`` is drawn three times as often as any other level.
    severities = (Severity.NONE.value,) * 2 + SEVERITY_LEVELS
    rng = random.Random(seed_value)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE labeling_judgment, labeling_pair, labeling_candidate, labeling_prompt "
            "RESTART IDENTITY CASCADE"
        )
    Campaign.objects.filter(slug__startswith="bench-").delete()
    policy = PolicyVersion.objects.order_by("-number").first()
    if policy is None:
        policy = PolicyVersion.objects.create(number=1, snapshot={"categories": []})
    users = []
    for index in range(JUDGMENTS_PER_PAIR):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-annotator-{index}")
        users.append(user)
    slugs: list[str] = []
    previous = 0
    prompt_id = pair_id = judgment_id = 0
    for step, total in enumerate(judgments):
        slug = f"bench-{step}"
        slugs.append(slug)
        campaign = Campaign.objects.create(
            name=f"Bench {step}", slug=slug, policy_version=policy, judgments_per_pair=3
        )
        pairs = (total - previous) // JUDGMENTS_PER_PAIR
        previous = total
        prompts = -(-pairs // PAIRS_PER_PROMPT)
        first_prompt, first_pair = prompt_id, pair_id
        prompt_id += prompts
        pair_id += prompts * PAIRS_PER_PROMPT

        def prompt_rows(
            start: int = first_prompt, count: int = prompts, campaign_id: int = campaign.pk
        ) -> Iterator[dict]:
            for offset in range(count):
                number = start + offset + 1
                messages = [{"role": "user", "content": f"Question {number}: {_text(rng, 18)}"}]
                yield {
                    "id": number,
                    "campaign_id": campaign_id,
                    "messages": messages,
                    "category_path": CATEGORIES[number % len(CATEGORIES)],
                    "intent": INTENTS[number % len(INTENTS)],
                    "external_id": None,
                    "content_hash": hashlib.sha256(str(number).encode()).hexdigest(),
                }

        def candidate_rows(start: int = first_prompt, count: int = prompts) -> Iterator[dict]:
            for offset in range(count):
                number = start + offset + 1
                for side in range(3):
                    ident = (number - 1) * 3 + side + 1
                    yield {
                        "id": ident,
                        "prompt_id": number,
                        "text": f"Answer {ident}: {_text(rng, 60)}",
                        "source": f"model-{side}",
                        "idempotency_key": f"bench-{ident}",
                    }

        def pair_rows(
            start: int = first_prompt, count: int = prompts, campaign_id: int = campaign.pk
        ) -> Iterator[dict]:
            for offset in range(count):
                number = start + offset + 1
                base = (number - 1) * 3
                for index, (a, b) in enumerate(((1, 2), (1, 3), (2, 3))):
                    yield {
                        "id": (number - 1) * PAIRS_PER_PROMPT + index + 1,
                        "prompt_id": number,
                        "campaign_id": campaign_id,
                        "candidate_a_id": base + a,
                        "candidate_b_id": base + b,
                        "judgment_count": JUDGMENTS_PER_PAIR,
                    }

        def judgment_rows(start: int = first_pair, count: int = prompts * 3) -> Iterator[dict]:
            nonlocal judgment_id
            for offset in range(count):
                pair = start + offset + 1
                for user in users:
                    judgment_id += 1
                    row: dict[str, Any] = {
                        "id": judgment_id,
                        "pair_id": pair,
                        "annotator_id": user.pk,
                        "policy_version_id": policy.pk,
                    }
                    for side in CANONICAL_SIDES:
                        row[side_field(side, RESPONSE_MODE_FIELD)] = rng.choice(RESPONSE_MODES)
                        row[side_field(side, SEVERITY_FIELD)] = rng.choice(severities)
                        row[side_field(side, HELPFULNESS_FIELD)] = rng.randint(
                            HELPFULNESS_MIN, HELPFULNESS_MAX
                        )
                    row[PREFERENCE_FIELD] = rng.randint(PREFERENCE_MIN, PREFERENCE_MAX)
                    row["left_is_a"] = rng.random() < 0.5
                    yield row

        with transaction.atomic():
            _copy_rows(Prompt, prompt_rows())
            _copy_rows(Candidate, candidate_rows())
            _copy_rows(Pair, pair_rows())
            _copy_rows(Judgment, judgment_rows())
    with connection.cursor() as cursor:
        for table in (
            "labeling_prompt",
            "labeling_candidate",
            "labeling_pair",
            "labeling_judgment",
        ):
            # Table names come from the fixed tuple above, never from input.
            statement = f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"  # noqa: S608, E501
            cursor.execute(statement, [table])
        cursor.execute("ANALYZE")
    return {"campaigns": slugs, "judgments": judgment_id, "pairs": pair_id}


def _child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    _setup_django(None)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    data = {"format": args.format, "campaigns": args.campaigns.split(",")}
    if args.child == "copy":
        import psycopg
        from django.db import connection
        from django.utils import timezone

        from exports.selectors import export_queryset_sql
        from exports.spec import parse_spec

        sql, params = export_queryset_sql(parse_spec(data), as_of=timezone.now())
        connection.ensure_connection()
        raw = connection.connection
        if args.jit_off:
            raw.execute("SET jit = off")
        literal = psycopg.ClientCursor(raw).mogrify(sql, params)
        out_path = Path(args.out) / "copy.csv"
        started = time.perf_counter()
        size = 0
        with (
            out_path.open("wb") as out,
            raw.cursor() as cursor,
            cursor.copy(f"COPY ({literal}) TO STDOUT WITH (FORMAT csv)") as copy,
        ):
            for chunk in copy:
                out.write(chunk)
                size += len(chunk)
        seconds = time.perf_counter() - started
        result = {"seconds": seconds, "bytes": size}
    else:
        from exports import services

        started = time.perf_counter()
        export = services.export_create(user=None, data=data, enqueue=False)
        export = services.export_run(export_id=export.id)
        seconds = time.perf_counter() - started
        if export.status != "completed":
            raise SystemExit(f"export failed: {export.error}")
        manifest = export.manifest or {}
        result = {
            "seconds": seconds,
            "rows": manifest.get("counts", {}).get("rows_written"),
            "pairs": manifest.get("counts", {}).get("pairs_considered"),
            "bytes": sum(f["bytes"] for f in manifest.get("files", [])),
        }
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["baseline_rss_mb"] = baseline_mb
    print(json.dumps(result))


def _measure(
    kind: str, fmt: str, campaigns: list[str], database_url: str, *, jit_off: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="graylab-bench-") as folder:
        env = dict(os.environ)
        env["DATABASE_URL"] = database_url
        env["GRAYLAB_DATA_DIR"] = folder
        env.setdefault("DEBUG", "true")
        env.pop("PYTEST_CURRENT_TEST", None)
        completed = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                kind,
                "--format",
                fmt,
                "--campaigns",
                ",".join(campaigns),
                "--out",
                folder,
                *(["--jit-off"] if jit_off else []),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{kind} {fmt} failed:\n{completed.stderr[-3000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the figures and prints them, summary line last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a few thousand judgments")
    parser.add_argument("--database-url", help="database to seed and measure")
    parser.add_argument("--no-seed", action="store_true", help="reuse the data already there")
    parser.add_argument("--child", choices=("export", "copy"), help=argparse.SUPPRESS)
    parser.add_argument("--format", default="trl-preference", help=argparse.SUPPRESS)
    parser.add_argument("--campaigns", default="", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--jit-off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return {}
    sizes = [3_000, 9_000] if args.small else [100_000, 1_000_000]
    database_url = args.database_url
    if database_url is None:
        base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/graylab")
        database_url = _bench_url(base, small=args.small)
        _ensure_database(database_url)
    _setup_django(database_url)
    if args.database_url is None:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    if args.no_seed:
        seeded = {"campaigns": [f"bench-{i}" for i in range(len(sizes))]}
    else:
        started = time.perf_counter()
        seeded = seed(judgments=sizes)
        print(f"seeded {seeded} in {time.perf_counter() - started:.1f} s", flush=True)
    figures: dict[str, Any] = {"sizes": sizes, "runs": []}
    for step, size in enumerate(sizes):
        campaigns = seeded["campaigns"][: step + 1]
        # The export's own stream runs with JIT off; the same COPY with JIT off as well shows
        # how much of the ratio that setting accounts for (the target's floor is the default).
        copy_no_jit = _measure("copy", FORMATS[0], campaigns, database_url, jit_off=True)
        for fmt in FORMATS:
            copy = _measure("copy", fmt, campaigns, database_url)
            export = _measure("export", fmt, campaigns, database_url)
            ratio = export["seconds"] / copy["seconds"] if copy["seconds"] else float("nan")
            ratio_no_jit = export["seconds"] / copy_no_jit["seconds"]
            run = {
                "judgments": size,
                "format": fmt,
                "ratio": ratio,
                "ratio_copy_without_jit": ratio_no_jit,
                "copy": copy,
                "copy_without_jit": copy_no_jit,
                "export": export,
            }
            figures["runs"].append(run)
            print(
                f"{size:>9} judgments {fmt:<15} export {export['seconds']:7.2f} s "
                f"({export['rows']} rows, {export['bytes'] / 1e6:.0f} MB) · COPY "
                f"{copy['seconds']:6.2f} s ({copy['bytes'] / 1e6:.0f} MB) · ratio {ratio:4.2f} "
                f"(COPY without JIT {copy_no_jit['seconds']:.2f} s: {ratio_no_jit:4.2f}) · "
                f"peak RSS {export['peak_rss_mb']:.0f} MB (after start-up "
                f"{export['baseline_rss_mb']:.0f} MB)",
                flush=True,
            )
    largest = [run for run in figures["runs"] if run["judgments"] == sizes[-1]]
    smallest = [run for run in figures["runs"] if run["judgments"] == sizes[0]]
    summary = (
        f"export bench: at {sizes[-1]:,} judgments time ÷ COPY = "
        + ", ".join(f"{run['format']} {run['ratio']:.2f}x" for run in largest)
        + f"; peak RSS {sizes[0]:,}: "
        + "/".join(f"{run['export']['peak_rss_mb']:.0f}" for run in smallest)
        + f" MB, {sizes[-1]:,}: "
        + "/".join(f"{run['export']['peak_rss_mb']:.0f}" for run in largest)
        + " MB"
    )
    print(summary, flush=True)
    figures["summary"] = summary
    return figures


if __name__ == "__main__":
    main()
