"""The annotator round trip: submit a judgment and get the next pair in one htmx request.

Full mode (the figures for the notes)::

    python -m bench.annotate             # 200k pairs, 600k judgments in database graylab_bench

seeds (once; reused while the sizes match) a campaign with ``k = 5`` whose pairs already hold
0-4 judgments each (600k in all, with their completed assignments) using PostgreSQL ``COPY``;
every prompt and candidate text is distinct (real XSTest prompts and GPT-4 completions, each
candidate with the HTML stored for it as generation and imports store it),
starts gunicorn on loopback against that database, and measures over HTTP:

(a) one annotator alone: sequential round trips (``POST …/submit/`` with ``HX-Request``, whose
    answer is the next pair) → p50/p95/p99, beside the same number of sequential requests to
    a minimal signed-in view (``/work/ping/``: session + user + role check, no work);
(b) saturation: ``--concurrency`` annotators at once → round trips per second, beside the
    minimal view under the same load: both warmed up, then ``--rounds`` alternations of the
    two (``--seconds`` in all for each), so a drift of the machine's speed falls on both.

Many campaigns (``--campaigns 50 --pairs-per-campaign 20000``): the same seed in each of
that many campaigns, the same measurements on the last one seeded (its pairs come last in id
order). The other campaigns' candidates are one distinct line each: nobody is served them.

Grader-first routing (``--routing grader-first``): the measured campaign routes by a grader,
its pairs carry spread-out routing ranks (a hash of the id: the claim's order then jumps
about the table instead of following it) and one pair in ten is accepted as an AI label (the
claim passes over them), set in one UPDATE as a recompute leaves them. ``--routing uniform``
(the default) puts every rank back to 0.

Small mode (``--small``, run by the test suite so the benchmark never rots) uses the current
database and a few hundred pairs (``--small --campaigns 3``: 300 pairs in each).

The last line printed is the summary::

    annotate: pairs=… judgments=… alone p50=…ms p95=…ms p99=…ms (floor p95=…ms) target p95≤25ms |
    saturated …/s vs floor …/s ratio=… target≥0.5 | queries claim+submit fixed (see tests)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy.rubric import (
    JUDGMENT_VALUE_COLUMNS,
    PREFERENCE_FIELD,
    RATIONALE_FIELD,
    TIME_ON_TASK_FIELD,
    Intent,
    ResponseMode,
    Severity,
    side_fields,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/graylab_bench"
SLUG = "bench-annotate"
K = 5
# Judgments already on each pair, cycling: average 3, so 200k pairs carry 600k judgments.
EXISTING_PATTERN = (0, 3, 4, 4, 4)
SEED_ANNOTATORS = 200
ASSIGNMENT_RE = re.compile(r'data-assignment="(\d+)"')
# The page's claim form: in an answer without a pair, the claim said "busy" (asked again).
CLAIM_FORM = 'id="claim-form"'
BUSY_ATTEMPTS = 30


def _compliant_side(side: str, mode: str) -> dict[str, str]:
    """The form fields of one side rated ``mode``, fully compliant and moderately helpful."""
    return dict(zip(side_fields(side), (mode, Severity.NONE.value, "3"), strict=True))


# The form every simulated annotator submits: two equally good answers, no rationale needed.
ANSWER = {
    **_compliant_side("left", ResponseMode.SAFE_COMPLETION.value),
    **_compliant_side("right", ResponseMode.DIRECT_ANSWER.value),
    PREFERENCE_FIELD: "0",
    RATIONALE_FIELD: "",
    TIME_ON_TASK_FIELD: "1000",
}


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


def _ensure_database(database_url: str) -> None:
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def _database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    user = settings.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


# --- seeding ---------------------------------------------------------------------------------


def _copy(model: Any, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY rows into ``model``'s table; other NOT NULL columns get their field defaults."""
    from django.db import connection

    extra = [
        field
        for field in model._meta.concrete_fields
        if field.column not in columns and not field.null and not field.primary_key
    ]
    defaults = [
        json.dumps(value) if isinstance(value, dict | list) else value
        for value in (field.get_default() for field in extra)
    ]
    names = columns + [field.column for field in extra]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {model._meta.db_table} ({', '.join(names)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row((*row, *defaults))


def _next_id(model: Any) -> int:
    from django.db.models import Max

    return int(model.objects.aggregate(top=Max("id"))["top"] or 0) + 1


def _reset_sequences(*models: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - model names
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )


def _users(prefix: str, count: int, role: str | None) -> list[int]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User

    existing = dict(User.objects.filter(username__startswith=prefix).values_list("username", "id"))
    wanted = [f"{prefix}{index:04d}" for index in range(count)]
    User.objects.bulk_create(
        [
            User(username=name, password=make_password(None))
            for name in wanted
            if name not in existing
        ]
    )
    users = list(User.objects.filter(username__in=wanted).order_by("username"))
    if role:
        group, _ = Group.objects.get_or_create(name=role)
        group.user_set.add(*users)
    return [user.pk for user in users]


def _campaign(slug: str) -> Any:
    from labeling.models import Campaign
    from policy.models import PolicyVersion

    version = PolicyVersion.objects.order_by("-number").first()
    if version is None:
        from policy.seed import ensure_default_policy

        ensure_default_policy()
        version = PolicyVersion.objects.order_by("-number").first()
    campaign, _ = Campaign.objects.get_or_create(
        slug=slug,
        defaults={
            "name": "Annotation benchmark",
            "policy_version": version,
            "judgments_per_pair": K,
            "status": Campaign.Status.OPEN,
            "lease_minutes": 30,
        },
    )
    return campaign


XSTEST = ROOT / "labeling" / "demo_data" / "xstest"


def _texts() -> tuple[list[str], list[tuple[str, str]]]:
    """Real texts: the XSTest prompts, and GPT-4's completions of them with their HTML."""
    import csv

    from presentation.untrusted_text import stored_html

    with (XSTEST / "xstest_prompts.csv").open(newline="", encoding="utf-8") as handle:
        questions = [row["prompt"] for row in csv.DictReader(handle)]
    completions = XSTEST / "xstest_v2_completions_gpt4.csv"
    with completions.open(newline="", encoding="utf-8") as handle:
        answers = [row["completion"] for row in csv.DictReader(handle)]
    return questions, [(answer, stored_html(answer)[0]) for answer in answers]


def _candidate_text(answers: list[tuple[str, str]], index: int, side: int) -> tuple[str, str, int]:
    """A distinct candidate per pair and side (so no process can serve it from a cache of
    earlier renderings): a real completion under a one-line heading of its own, with the HTML
    the renderer stores for it. A paragraph renders on its own, so the HTML is the heading's
    paragraph and the completion's HTML; every 997th text is rendered whole to prove it."""
    from presentation.untrusted_text import RENDERER, stored_html

    answer, answer_html = answers[(2 * index + side) % len(answers)]
    heading = f"Benchmark pair {index}, side {side}."
    text = f"{heading}\n\n{answer}"
    html = f"<p>{heading}</p>\n{answer_html}"
    if (2 * index + side) % 997 == 0 and stored_html(text)[0] != html:
        raise RuntimeError(f"the seeded HTML of pair {index} side {side} is not its rendering")
    return text, html, RENDERER


def _short_candidate_text(
    answers: list[tuple[str, str]], index: int, side: int
) -> tuple[str, str, int]:
    """A distinct one-line candidate, for the campaigns that are only there to be passed over
    (``--campaigns``): nobody is served them, so they need no real completion."""
    from presentation.untrusted_text import RENDERER

    text = f"Other campaign pair {index}, side {side}."
    return text, f"<p>{text}</p>", RENDERER


def seed(campaign: Any, pairs: int, *, real_texts: bool = True) -> int:
    """COPY ``pairs`` pairs (one prompt and two candidates each) and their earlier judgments.

    Texts are real and distinct: XSTest prompts and GPT-4 completions (see ``_texts``), each
    candidate with the HTML stored for it as generation and imports store it. With
    ``real_texts`` off the candidates are one distinct line each (campaigns nobody is served)."""
    from labeling.models import Assignment, Candidate, Judgment, Pair, Prompt

    annotators = _users("bench-seed-", SEED_ANNOTATORS, None)
    now = datetime.now(UTC)
    prompt_id, candidate_id = _next_id(Prompt), _next_id(Candidate)
    pair_id, assignment_id, judgment_id = _next_id(Pair), _next_id(Assignment), _next_id(Judgment)
    version = campaign.policy_version_id
    questions, answers = _texts()
    candidate_text = _candidate_text if real_texts else _short_candidate_text

    def prompts() -> Iterator[tuple[Any, ...]]:
        for index in range(pairs):
            content = f"{questions[index % len(questions)]} (benchmark prompt {index})"
            yield (
                prompt_id + index, campaign.pk,
                json.dumps([{"role": "user", "content": content}]),
                "biology/low-risk-dual-use", Intent.DUAL_USE.value, f"bench-{index}",
                hashlib.sha256(content.encode()).hexdigest(), "{}", now,
            )  # fmt: skip

    _copy(
        Prompt,
        ["id", "campaign_id", "messages", "category_path", "intent", "external_id",
         "content_hash", "metadata", "created_at"],
        prompts(),
    )  # fmt: skip

    def candidates() -> Iterator[tuple[Any, ...]]:
        for index in range(pairs):
            for side in (0, 1):
                number = 2 * index + side
                text, html, renderer = candidate_text(answers, index, side)
                yield (
                    candidate_id + number, prompt_id + index, text, html, renderer,
                    f"bench-model-{side}", f"bench-{campaign.pk}-{index}-{side}", "{}", now,
                )  # fmt: skip

    _copy(
        Candidate,
        [
            "id",
            "prompt_id",
            "text",
            "html",
            "html_renderer",
            "source",
            "idempotency_key",
            "prior_labels",
            "created_at",
        ],
        candidates(),
    )

    def pair_rows() -> Iterator[tuple[Any, ...]]:
        for index in range(pairs):
            yield (
                pair_id + index, prompt_id + index, campaign.pk, candidate_id + 2 * index,
                candidate_id + 2 * index + 1, False,
                EXISTING_PATTERN[index % len(EXISTING_PATTERN)], now,
            )  # fmt: skip

    _copy(
        Pair,
        ["id", "prompt_id", "campaign_id", "candidate_a_id", "candidate_b_id", "is_gold",
         "judgment_count", "created_at"],
        pair_rows(),
    )  # fmt: skip
    slots = [
        (index, slot)
        for index in range(pairs)
        for slot in range(EXISTING_PATTERN[index % len(EXISTING_PATTERN)])
    ]

    def assignments() -> Iterator[tuple[Any, ...]]:
        for offset, (index, slot) in enumerate(slots):
            annotator = annotators[(index * 7 + slot) % len(annotators)]
            yield (
                assignment_id + offset, pair_id + index, campaign.pk, annotator, slot,
                bool(index % 2), now, now, now, "{}",
            )  # fmt: skip

    _copy(
        Assignment,
        ["id", "pair_id", "campaign_id", "annotator_id", "slot", "left_is_a", "expires_at",
         "completed_at", "created_at", "draft"],
        assignments(),
    )  # fmt: skip

    def judgments() -> Iterator[tuple[Any, ...]]:
        for offset, (index, slot) in enumerate(slots):
            annotator = annotators[(index * 7 + slot) % len(annotators)]
            yield (
                judgment_id + offset, pair_id + index, annotator, assignment_id + offset,
                version, ResponseMode.SAFE_COMPLETION.value, Severity.NONE.value, 3,
                ResponseMode.DIRECT_ANSWER.value, Severity.LOW.value, 3,
                (offset % 5) - 2, "bench", "[]", "", bool(index % 2), 20_000, now, now,
            )  # fmt: skip

    _copy(
        Judgment,
        ["id", "pair_id", "annotator_id", "assignment_id", "policy_version_id",
         *JUDGMENT_VALUE_COLUMNS, "left_is_a", TIME_ON_TASK_FIELD, "created_at", "updated_at"],
        judgments(),
    )  # fmt: skip
    _reset_sequences(Prompt, Candidate, Pair, Assignment, Judgment)
    from django.db import connection

    with connection.cursor() as cursor:
        for model in (Prompt, Candidate, Pair, Assignment, Judgment):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    return len(slots)


def prepare(pairs: int, slug: str, *, real_texts: bool = True) -> tuple[Any, int]:
    """The benchmark campaign with ``pairs`` pairs (seeded once, reused while sizes match)."""
    from labeling.models import Assignment, Candidate, Judgment, Pair
    from presentation.untrusted_text import RENDERER

    campaign = _campaign(slug)
    have = Pair.objects.filter(prompt__campaign=campaign).count()
    # A seed from an older renderer (or an older seed format) is made again.
    stale = (
        Candidate.objects.filter(prompt__campaign=campaign).exclude(html_renderer=RENDERER).exists()
    )
    if have != pairs or stale:
        if have:
            campaign.prompts.all().delete()
        seed(campaign, pairs, real_texts=real_texts)
    # Earlier benchmark runs' annotators leave work behind: clear it so each run starts equal.
    bench_users = "bench-annotator-"
    old = Judgment.objects.filter(
        pair__prompt__campaign=campaign, annotator__username__startswith=bench_users
    )
    touched = list(old.values_list("pair_id", flat=True))
    old.delete()
    Assignment.objects.filter(
        campaign=campaign, annotator__username__startswith=bench_users
    ).delete()
    if touched:
        from django.db.models import Count

        counts = dict(
            Judgment.objects.filter(pair_id__in=touched)
            .values_list("pair_id")
            .annotate(n=Count("id"))
            .values_list("pair_id", "n")
        )
        for pair_id in set(touched):
            Pair.objects.filter(pk=pair_id).update(judgment_count=counts.get(pair_id, 0))
    judgments = Judgment.objects.filter(pair__prompt__campaign=campaign).count()
    return campaign, judgments


def prepare_many(campaigns: int, pairs: int, slug: str) -> tuple[Any, int]:
    """``campaigns`` campaigns of ``pairs`` pairs each (``--campaigns``); the measured one, with
    real texts, is seeded last, so its pairs come last in id order: a claim that walked one
    order of every campaign's pairs would pass all the others' first. The judgments counted
    are those of every campaign."""
    total = 0
    for number in range(campaigns - 1):
        _other, judgments = prepare(pairs, f"{slug}-{number:02d}", real_texts=False)
        total += judgments
    campaign, judgments = prepare(pairs, f"{slug}-{campaigns - 1:02d}")
    return campaign, total + judgments


ROUTING_GRADER = "bench-annotate-router"
# Ranks spread over the range a recompute gives (−250 … 1750), in an order unrelated to ids.
PLANTED_RANKS_SQL = (
    "UPDATE labeling_pair SET route_rank = ((id * 2654435761) %% 2001) - 250, "
    "ai_accepted = (id %% 10 = 0), spot_check = false WHERE campaign_id = %s"
)


def route(campaign: Any, routing: str) -> None:
    """Set the measured campaign's routing and its pairs' figures (see the docstring)."""
    from django.db import connection

    from labeling.models import Campaign, Grader, Pair

    if routing == Campaign.Routing.GRADER_FIRST:
        grader, _ = Grader.objects.get_or_create(name=ROUTING_GRADER)
        Campaign.objects.filter(pk=campaign.pk).update(routing=routing, routing_grader=grader)
        with connection.cursor() as cursor:
            cursor.execute(PLANTED_RANKS_SQL, [campaign.pk])
    else:
        Campaign.objects.filter(pk=campaign.pk).update(routing=routing, routing_grader=None)
        Pair.objects.filter(campaign=campaign).exclude(
            route_rank=0, ai_accepted=False, spot_check=False
        ).update(route_rank=0, ai_accepted=False, spot_check=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE labeling_pair")


def sessions(user_ids: list[int]) -> list[str]:
    """A signed-in session per user, made directly (the login form is rate limited)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for user in User.objects.filter(pk__in=user_ids).order_by("pk"):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        assert store.session_key
        keys.append(store.session_key)
    return keys


# --- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """gunicorn serving the project on loopback with production settings."""

    def __init__(self, database_url: str, workers: int, secret_key: str) -> None:
        self.port = _free_port()
        self.data_dir = tempfile.mkdtemp(prefix="graylab-bench-")
        self.env = dict(os.environ)
        self.env.update(
            {
                "DATABASE_URL": database_url,
                "DEBUG": "false",
                # The sessions made in this process are signed with this process's key.
                "SECRET_KEY": secret_key,
                "SECURE_SSL_REDIRECT": "false",
                "SECURE_HSTS_SECONDS": "0",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "GRAYLAB_DATA_DIR": self.data_dir,
                "LOG_LEVEL": "WARNING",
            }
        )
        collect = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
        if subprocess.run(collect, cwd=ROOT, env=self.env, capture_output=True).returncode:
            # A vendored file that fails manifest post-processing must not stop the benchmark;
            # the pages measured here do not use the chart library.
            subprocess.run([*collect, "-i", "chartjs"], cwd=ROOT, env=self.env, check=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--log-level", "warning", "--access-logfile", "/dev/null"],
            cwd=ROOT, env=self.env, start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


# --- the clients -----------------------------------------------------------------------------

CSRF = "b" * 32


class Annotator:
    """One signed-in annotator working through pairs with htmx requests."""

    def __init__(self, http: Any, base: str, slug: str, session: str) -> None:
        self.http = http
        self.base = base
        self.slug = slug
        self.headers = {
            "Cookie": f"sessionid={session}; csrftoken={CSRF}",
            "X-CSRFToken": CSRF,
            "HX-Request": "true",
            "Referer": base + "/",
        }
        self.assignment: str | None = None
        self.busy = 0  # answers "busy" (every pair left locked by others), asked again

    async def start(self) -> None:
        """Claim the first pair as the page does once it has loaded (an htmx POST), and as it
        does when the claim says every pair left is locked by others: again a second later."""
        for _attempt in range(BUSY_ATTEMPTS):
            async with self.http.post(
                f"{self.base}/campaigns/{self.slug}/annotate/",
                headers=self.headers,
                allow_redirects=False,
            ) as response:
                body = await response.text()
                if response.status != 200:
                    raise RuntimeError(f"annotate page answered {response.status}: {body[:300]}")
            self.assignment = _assignment(body)
            if self.assignment is not None:
                return
            if CLAIM_FORM not in body:
                break
            self.busy += 1
            await asyncio.sleep(1)
        said = " ".join(re.sub(r"<[^>]+>", " ", body).split())[:400]
        raise RuntimeError(f"the annotate page offered no pair; it said: {said}")

    async def round_trip(self) -> bool:
        """Submit the current pair; the answer carries the next one. False when done."""
        if self.assignment is None:
            return False
        url = f"{self.base}/campaigns/{self.slug}/annotate/{self.assignment}/submit/"
        async with self.http.post(
            url, data=ANSWER, headers=self.headers, allow_redirects=False
        ) as response:
            body = await response.text()
            if response.status != 200 or "Saved." not in body:
                raise RuntimeError(f"submit answered {response.status}: {body[:300]}")
        self.assignment = _assignment(body)
        if self.assignment is None and CLAIM_FORM in body:
            self.busy += 1
            await self.start()
        return self.assignment is not None

    async def ping(self) -> None:
        async with self.http.get(
            f"{self.base}/work/ping/", headers=self.headers, allow_redirects=False
        ) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"ping answered {response.status}")


def _assignment(body: str) -> str | None:
    match = ASSIGNMENT_RE.search(body)
    return match.group(1) if match else None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _alone(
    base: str, slug: str, session: str, count: int
) -> tuple[list[float], list[float], int]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        annotator = Annotator(http, base, slug, session)
        await annotator.start()
        for _ in range(5):  # warm up
            await annotator.ping()
        trips, floor = [], []
        for _ in range(count):
            started = time.perf_counter()
            await annotator.ping()
            floor.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            if not await annotator.round_trip():
                break
            trips.append((time.perf_counter() - started) * 1000)
        return trips, floor, annotator.busy


async def _saturate(
    base: str, slug: str, session_keys: list[str], seconds: float, *, floor: bool
) -> tuple[int, float, int]:
    """Every annotator at once, each sending its next request as soon as the last one is
    answered, for ``seconds``: (requests answered, seconds taken, "busy" answers)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=len(session_keys))
    async with aiohttp.ClientSession(connector=connector) as http:
        annotators = [Annotator(http, base, slug, key) for key in session_keys]
        if not floor:
            await asyncio.gather(*(annotator.start() for annotator in annotators))
        done = 0
        deadline = time.perf_counter() + seconds

        async def run(annotator: Annotator) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                if floor:
                    await annotator.ping()
                elif not await annotator.round_trip():
                    return
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(run(annotator) for annotator in annotators))
        taken = time.perf_counter() - started
        return done, taken, sum(annotator.busy for annotator in annotators)


def _saturation(
    base: str, slug: str, session_keys: list[str], seconds: float, rounds: int
) -> dict[str, Any]:
    """The floor and the round trip under the same load, in alternating rounds.

    Both are warmed up first (every worker has then served each kind of request), and
    alternating spreads any drift of the machine's speed over both instead of favouring
    whichever runs last. Each side gets ``seconds`` in all."""
    warm = min(3.0, seconds / rounds)
    for floor in (True, False):
        asyncio.run(_saturate(base, slug, session_keys, warm, floor=floor))
    totals = {True: [0, 0.0], False: [0, 0.0]}
    ratios = []
    busy = 0
    for _ in range(rounds):
        rates = {}
        for floor in (True, False):
            done, taken, busy_answers = asyncio.run(
                _saturate(base, slug, session_keys, seconds / rounds, floor=floor)
            )
            busy += busy_answers
            totals[floor][0] += done
            totals[floor][1] += taken
            rates[floor] = done / taken
        ratios.append(rates[False] / rates[True] if rates[True] else 0.0)
    floor_rate = totals[True][0] / totals[True][1]
    trip_rate = totals[False][0] / totals[False][1]
    return {
        "saturated_per_second": trip_rate,
        "floor_per_second": floor_rate,
        "ratio": trip_rate / floor_rate if floor_rate else 0.0,
        "round_ratios": [round(ratio, 3) for ratio in ratios],
        "busy_answers": busy,
    }


def run(
    *,
    pairs: int,
    requests: int,
    concurrency: int,
    seconds: float,
    rounds: int,
    workers: int,
    slug: str,
    campaigns: int = 1,
    routing: str = "uniform",
) -> dict[str, Any]:
    """Seed (or reuse), start gunicorn, measure; returns the figures. ``pairs`` is per
    campaign; with ``campaigns`` above one the last of them is measured."""
    if campaigns > 1:
        campaign, judgments = prepare_many(campaigns, pairs, slug)
    else:
        campaign, judgments = prepare(pairs, slug)
    route(campaign, routing)
    annotator_ids = _users("bench-annotator-", concurrency + 1, "annotator")
    keys = sessions(annotator_ids)
    from django.conf import settings

    server = Gunicorn(_database_url(), workers, settings.SECRET_KEY)
    try:
        trips, floor, busy_alone = asyncio.run(_alone(server.url, campaign.slug, keys[0], requests))
        saturation = _saturation(server.url, campaign.slug, keys[1:], seconds, rounds)
    finally:
        server.stop()
    return {
        "routing": routing,
        "campaigns": campaigns,
        "pairs": pairs * campaigns,
        "judgments": judgments,
        "alone": {
            "n": len(trips),
            "p50": statistics.median(trips),
            "p95": _percentile(trips, 0.95),
            "p99": _percentile(trips, 0.99),
        },
        "floor_alone": {
            "p50": statistics.median(floor),
            "p95": _percentile(floor, 0.95),
            "p99": _percentile(floor, 0.99),
        },
        **saturation,
        "busy_answers_alone": busy_alone,
        "concurrency": concurrency,
        "workers": workers,
    }


def summary(figures: dict[str, Any]) -> str:
    alone, floor = figures["alone"], figures["floor_alone"]
    campaigns = figures.get("campaigns", 1)
    return (
        f"annotate: {f'campaigns={campaigns} ' if campaigns > 1 else ''}"
        f"{'routing=grader-first ' if figures.get('routing') == 'grader-first' else ''}"
        f"pairs={figures['pairs']} judgments={figures['judgments']} "
        f"alone n={alone['n']} p50={alone['p50']:.1f}ms p95={alone['p95']:.1f}ms "
        f"p99={alone['p99']:.1f}ms (floor p50={floor['p50']:.1f}ms p95={floor['p95']:.1f}ms, "
        f"p95/floor={alone['p95'] / floor['p95']:.2f}) target p95≤25ms | "
        f"saturated c={figures['concurrency']} {figures['saturated_per_second']:.0f}/s vs "
        f"floor {figures['floor_per_second']:.0f}/s ratio={figures['ratio']:.2f} "
        f"(rounds {', '.join(f'{r:.2f}' for r in figures['round_ratios'])}) target≥0.5 | "
        f"busy answers {figures['busy_answers_alone']} alone, {figures['busy_answers']} saturated"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.annotate", description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick run in the current DB")
    parser.add_argument("--database-url", default=None, help="default: graylab_bench (full)")
    parser.add_argument("--pairs", type=int, default=None)
    parser.add_argument(
        "--campaigns",
        type=int,
        default=1,
        help="seed this many campaigns and measure the last (the claim among many campaigns)",
    )
    parser.add_argument(
        "--pairs-per-campaign", type=int, default=None, help="with --campaigns (default 20000)"
    )
    parser.add_argument("--requests", type=int, default=None, help="round trips alone")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="saturated, per side")
    parser.add_argument("--rounds", type=int, default=None, help="alternations of the two")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) * 2 + 1)
    parser.add_argument(
        "--routing",
        choices=("uniform", "grader-first"),
        default="uniform",
        help="the measured campaign's routing (grader-first: ranks and AI labels planted)",
    )
    args = parser.parse_args(argv)
    from django.apps import apps

    if not apps.ready:
        database_url = args.database_url or (None if args.small else BENCH_DATABASE_URL)
        if database_url:
            _ensure_database(database_url)
        _setup_django(database_url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
    small = args.small
    if args.campaigns > 1:
        # Small: as many pairs in the measured campaign as the one-campaign run has, so a fast
        # machine's saturated second never runs out of work.
        pairs = args.pairs_per_campaign or (300 if small else 20_000)
    else:
        pairs = args.pairs or (300 if small else 200_000)
    figures = run(
        pairs=pairs,
        campaigns=args.campaigns,
        requests=args.requests or (20 if small else 400),
        concurrency=args.concurrency or (4 if small else 16),
        seconds=args.seconds or (2.0 if small else 15.0),
        rounds=args.rounds or (1 if small else 3),
        workers=2 if small else args.workers,
        slug=SLUG + ("-small" if small else ""),
        routing=args.routing,
    )
    print(json.dumps(figures, indent=2, default=str))
    print(summary(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
