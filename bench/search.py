"""Data browser search: full-text search of completions answers in ≤ 300 ms at 1M candidates.

Full mode (the figure for the notes)::

    python -m bench.search                         # 1M candidates in database graylab_bench_search
    python -m bench.search --candidates 200000 --database-url postgres://…/other

seeds (once; reused while the size matches) one campaign of 100k prompts with ten candidates
each using PostgreSQL ``COPY`` — texts of 30–60 words drawn from a Zipf-distributed vocabulary,
so a common word is in a third of them and a rare one in a few hundred — then times, ``--repeat``
times each, what the browser's candidates table runs for a search: the first keyset page of 50
and the count of the matches ("N match", counted up to 10,000: more shows as "more than
10,000"), through its selectors. The searches span rare, middling and common words, two words
together, a phrase and an excluded word. The floor beside them is a bare indexed lookup of one
candidate by id on the same connection; each search's p95 is printed beside its ratio to it.

The seed loads with the search indexes' default pending list (4 MB), as a bulk load is
quickest, then sets the app's short one and moves the list into the indexes, as the migration
does; the searches are timed with an empty list, where the app's may hold up to 256 kB.

Small mode (``--small``, run by the test suite so the benchmark never rots) seeds a few hundred
candidates through the ORM in the current database and runs the same code once.

The last line printed is the summary: ``search: candidates=… p50=…ms p95=…ms max=…ms
target≤300ms floor=…ms p95/floor=…``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.dashboards import _analyze, _copy, _ensure_database, _next_id, _setup_django

BENCH_DATABASE = "graylab_bench_search"
CAMPAIGN_SLUG = "bench-search"
CANDIDATES_PER_PROMPT = 10
VOCABULARY = 20_000
RARE_WORD = "zanzibar"
RARE_EVERY = 4_000  # one candidate in this many holds the rare word
# The searches timed: (label, what a user types).
SEARCHES = (
    ("rare", RARE_WORD),
    ("middling", "w00100"),
    ("common", "w00002"),
    ("two words", "w00002 w00050"),
    ("phrase", '"w00003 w00004"'),
    ("excluding", "w00010 -w00002"),
)
TARGET_SECONDS = 0.3


def _word(rng: random.Random) -> str:
    # Zipf-like: word k is drawn with probability about 1/k (k = 1 the most common).
    rank = min(VOCABULARY, int(rng.paretovariate(1.0)))
    return f"w{rank:05d}"


def _text(rng: random.Random, index: int) -> str:
    words = [_word(rng) for _ in range(rng.randint(30, 60))]
    if index % RARE_EVERY == 0:
        words.insert(rng.randrange(len(words)), RARE_WORD.capitalize())
    return " ".join(words) + "."


def _campaign() -> Any:
    from labeling.models import Campaign
    from policy.models import PolicyVersion
    from policy.seed import ensure_default_policy

    ensure_default_policy()
    version = PolicyVersion.objects.order_by("-number").first()
    campaign, _ = Campaign.objects.get_or_create(
        slug=CAMPAIGN_SLUG, defaults={"name": "Search benchmark", "policy_version": version}
    )
    return campaign


def seed_copy(campaign: Any, candidates: int, seed: int = 1) -> None:
    """``candidates`` candidates of ``candidates / 10`` prompts, loaded with COPY."""
    import json

    from labeling.models import Candidate, Prompt

    rng = random.Random(seed)
    now = datetime(2026, 10, 1, tzinfo=UTC)
    prompts = max(1, candidates // CANDIDATES_PER_PROMPT)
    first_prompt = _next_id(Prompt)
    _copy(
        Prompt,
        ["id", "campaign_id", "messages", "category_path", "intent", "content_hash", "created_at"],
        (
            (
                first_prompt + index,
                campaign.pk,
                json.dumps([{"role": "user", "content": _text(rng, index + 1)}]),
                "biology/low-risk-dual-use",
                "benign",
                f"bench-search-{index}",
                now,
            )
            for index in range(prompts)
        ),
    )
    _copy(
        Candidate,
        ["prompt_id", "text", "source", "model", "style", "idempotency_key", "created_at"],
        (
            (
                first_prompt + index // CANDIDATES_PER_PROMPT,
                _text(rng, index),
                "bench-model",
                "bench-model",
                ("plain", "safe")[index % 2],
                f"bench-search-{index}",
                now,
            )
            for index in range(prompts * CANDIDATES_PER_PROMPT)
        ),
    )


def seed_small(campaign: Any, candidates: int = 300, seed: int = 1) -> None:
    from labeling.models import Candidate, Prompt

    rng = random.Random(seed)
    for index in range(candidates // CANDIDATES_PER_PROMPT):
        prompt = Prompt.objects.create(
            campaign=campaign,
            messages=[{"role": "user", "content": _text(rng, index + 1)}],
            category_path="biology/low-risk-dual-use",
            intent="benign",
            content_hash=f"bench-search-small-{index}",
        )
        Candidate.objects.bulk_create(
            Candidate(
                prompt=prompt,
                text=_text(rng, index * CANDIDATES_PER_PROMPT + sample),
                source="bench-model",
                idempotency_key=f"bench-search-small-{index}-{sample}",
            )
            for sample in range(CANDIDATES_PER_PROMPT)
        )


def measure(campaign: Any, repeat: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per search (first page of 50 and the match count), and of the floor."""
    from labeling.browser.selectors import page_of, query_parse, rows_matching
    from labeling.models import Candidate

    some_id = Candidate.objects.filter(prompt__campaign=campaign).values_list("id", flat=True)[0]
    timings: dict[str, list[float]] = {label: [] for label, _ in SEARCHES}
    timings["floor"] = []
    counts: dict[str, int] = {}
    for _ in range(repeat):
        started = time.perf_counter()
        Candidate.objects.filter(pk=some_id).values_list("id", "source").first()
        timings["floor"].append(time.perf_counter() - started)
        for label, words in SEARCHES:
            query = query_parse({"table": "candidates", "q": words, "size": "50"})
            started = time.perf_counter()
            page = page_of(rows_matching(campaign, query), query)
            timings[label].append(time.perf_counter() - started)
            counts[label] = page.count
    return timings, counts


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a summary line last. Returns 0 (or 1 over the target)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny size in the current database")
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
        help="full mode only: the benchmark's own database (created if missing)",
    )
    parser.add_argument("--reseed", action="store_true", help="full mode: seed again")
    args = parser.parse_args(argv)

    if args.small:
        _setup_django(None)
        campaign = _campaign()
        seed_small(campaign)
        repeat = 1
    else:
        _ensure_database(args.database_url)
        _setup_django(args.database_url)
        from django.core.management import call_command
        from django.db import connection, transaction

        from labeling.browser.search_index import SEARCHED_TABLES, settings_statements
        from labeling.models import Candidate

        call_command("migrate", verbosity=0, interactive=False)
        campaign = _campaign()
        size = (args.candidates // CANDIDATES_PER_PROMPT) * CANDIDATES_PER_PROMPT
        if args.reseed or Candidate.objects.filter(prompt__campaign=campaign).count() != size:
            connection.close()
            _ensure_database(args.database_url, fresh=True)
            call_command("migrate", verbosity=0, interactive=False)
            campaign = _campaign()
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for _, index, _ in SEARCHED_TABLES:
                    cursor.execute(f"ALTER INDEX {index} RESET (gin_pending_list_limit)")
            with transaction.atomic():
                seed_copy(campaign, size)
            with connection.cursor() as cursor:
                for statement in settings_statements():
                    cursor.execute(statement)
            _analyze()
            print(f"seeded {size} candidates in {time.perf_counter() - started:.1f} s")
        repeat = args.repeat
        # Warm the caches once, as a page in use is: the first read of a cold index is disk.
        measure(campaign, 1)
    from labeling.browser.selectors import COUNT_CAP
    from labeling.models import Candidate

    total = Candidate.objects.filter(prompt__campaign=campaign).count()
    timings, counts = measure(campaign, repeat)
    floor = statistics.median(timings.pop("floor")) or 1e-9
    print(f"candidates={total}, first page of 50 and the match count, {repeat} runs each:")
    every: list[float] = []
    for label, words in SEARCHES:
        values = sorted(timings[label])
        every.extend(values)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        shown = f">{COUNT_CAP}" if counts[label] > COUNT_CAP else str(counts[label])
        print(
            f"  {label:10} {words!r:22} matches={shown:>7} "
            f"p50={statistics.median(values) * 1000:7.1f}ms p95={p95 * 1000:7.1f}ms "
            f"p95/floor={p95 / floor:4.0f}"
        )
    every.sort()
    p50 = statistics.median(every)
    p95 = every[min(len(every) - 1, round(0.95 * (len(every) - 1)))]
    print(f"  floor (one candidate by id): {floor * 1000:.2f}ms")
    print(
        f"search: candidates={total} p50={p50 * 1000:.1f}ms p95={p95 * 1000:.1f}ms "
        f"max={every[-1] * 1000:.1f}ms target≤{TARGET_SECONDS * 1000:.0f}ms "
        f"floor={floor * 1000:.2f}ms p95/floor={p95 / floor:.0f}"
    )
    return 0 if args.small or p95 <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
