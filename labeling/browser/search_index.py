"""The full-text search columns and their GIN indexes (PostgreSQL only).

Each searchable table gets a stored generated ``tsvector`` column that PostgreSQL keeps
current on every insert and update — ``COPY``, bulk inserts and the claim's prepared
statements included — and a GIN index on it. The models do not declare the columns: SQLite
(the demo) has neither, and searches there with ``icontains`` instead (see ``selectors``).

The text is cut at ``INDEXED_CHARACTERS`` before it is parsed: a tsvector holds at most 1 MB,
and a longer completion must still be storable.
"""

from __future__ import annotations

SEARCH_CONFIG = "english"
SEARCH_COLUMN = "search_vector"
INDEXED_CHARACTERS = 100_000

# (table, index name, the expression indexed)
SEARCHED_TABLES: tuple[tuple[str, str, str], ...] = (
    (
        "labeling_candidate",
        "candidate_search",
        f"to_tsvector('{SEARCH_CONFIG}'::regconfig, left(text, {INDEXED_CHARACTERS}))",
    ),
    (
        "labeling_prompt",
        "prompt_search",
        # Every string of the messages (contents, and roles, which no search names).
        f"jsonb_to_tsvector('{SEARCH_CONFIG}'::regconfig, messages, '[\"string\"]')",
    ),
)


def install_statements() -> list[str]:
    statements = []
    for table, index, expression in SEARCHED_TABLES:
        statements.append(
            f"ALTER TABLE {table} ADD COLUMN {SEARCH_COLUMN} tsvector "
            f"GENERATED ALWAYS AS ({expression}) STORED"
        )
        statements.append(f"CREATE INDEX {index} ON {table} USING gin ({SEARCH_COLUMN})")
    return statements


def uninstall_statements() -> list[str]:
    statements = []
    for table, index, _ in SEARCHED_TABLES:
        statements.append(f"DROP INDEX IF EXISTS {index}")
        statements.append(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {SEARCH_COLUMN}")
    return statements
