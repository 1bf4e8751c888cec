# ruff: noqa: E501
"""Prompt import speed against PostgreSQL's COPY FROM of the same rows (target in bench/README.md).

Figure: time of ``prompt_import`` for N JSONL prompts ÷ time of ``COPY … FROM STDIN`` of the
same rows into the same table (``labeling_prompt``, with its indexes, constraints and WAL), each
timed up to and including its commit. Target ≤ 3 at 100k prompts. For context the run also
times the COPY into a temporary copy of the table (no WAL, no foreign key, no commit).

    python -m bench.import [--small] [--rows N]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tempfile
import time

from bench._setup import bench_campaign, django_setup
from policy.rubric import Intent


def _copy_rows(campaign_id: int, rows: int) -> str:
    """The benchmark's rows as COPY text, as a plain loader would write them."""
    buffer = io.StringIO()
    for i in range(rows):
        messages = json.dumps(
            [{"role": "user", "content": f"Benchmark prompt number {i}: how do locks work?"}]
        )
        digest = hashlib.sha256(messages.encode()).hexdigest()
        buffer.write(
            "\t".join(
                [
                    str(campaign_id),
                    messages.replace("\\", "\\\\"),
                    "benign/general",
                    Intent.BENIGN.value,
                    f"b{i}",
                    digest,
                    json.dumps({"n": i}),
                    "2026-01-01",
                ]
            )
            + "\n"
        )
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args(argv)
    django_setup()
    from django.db import connection, transaction

    from labeling.imports.prompts import prompt_import

    rows = args.rows or (2_000 if args.small else 100_000)
    postgres = connection.vendor == "postgresql"
    if postgres:
        # The floor first, so that it does not start with a buffer pool the import has just
        # filled with dirty pages (which would make the floor slower and the ratio kinder).
        floor_campaign = bench_campaign("bench-import-copy")
        data = _copy_rows(floor_campaign.pk, rows)
        columns = "campaign_id, messages, category_path, intent, external_id, content_hash, metadata, created_at"
        # The floor: the same rows into the same table, in a transaction, committed.
        started = time.monotonic()
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY labeling_prompt ({columns}) FROM STDIN") as copy,
        ):
            copy.write(data)
        copy_seconds = time.monotonic() - started
        # Context only: a temporary table of the same shape skips WAL and the foreign key check.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_copy (LIKE labeling_prompt INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES) ON COMMIT DROP"
            )
            started = time.monotonic()
            with cursor.cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
                copy.write(data)
            temp_seconds = time.monotonic() - started
        del data
    with tempfile.NamedTemporaryFile("w+b", suffix=".jsonl") as handle:
        for i in range(rows):
            handle.write(
                (
                    json.dumps(
                        {
                            "prompt": f"Benchmark prompt number {i}: how do locks work?",
                            "category": "benign/general",
                            "intent": Intent.BENIGN.value,
                            "external_id": f"b{i}",
                            "metadata": {"n": i},
                        }
                    )
                    + "\n"
                ).encode()
            )
        handle.flush()
        campaign = bench_campaign("bench-import")
        started = time.monotonic()
        report = prompt_import(campaign=campaign, source=handle.name, file_format="jsonl")
        import_seconds = time.monotonic() - started
    campaign.delete()
    if not postgres:
        print(
            f"import: {report.created} rows in {import_seconds:.2f} s (no COPY floor on {connection.vendor})"
        )
        print(
            f"SUMMARY import: {rows} rows in {import_seconds:.2f} s; ratio n/a (needs PostgreSQL)"
        )
        return 0
    floor_campaign.delete()
    ratio = import_seconds / copy_seconds
    print(
        f"import: {report.created} prompts in {import_seconds:.2f} s ({report.created / import_seconds:,.0f} rows/s)"
    )
    print(
        f"COPY FROM into labeling_prompt (same rows, same table, committed): {copy_seconds:.2f} s ({rows / copy_seconds:,.0f} rows/s)"
    )
    print(
        f"  context: COPY FROM into a TEMP table (no WAL, no foreign key): {temp_seconds:.2f} s; import ÷ that = {import_seconds / temp_seconds:.2f}"
    )
    print(
        f"SUMMARY import: {rows} rows, ratio {ratio:.2f} x COPY (target <= 3) -> {'PASS' if ratio <= 3 else 'BELOW TARGET'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
