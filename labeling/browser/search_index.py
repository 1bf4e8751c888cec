"""The full-text search columns and their GIN indexes (PostgreSQL only).

Each searchable table gets a stored generated ``tsvector`` column that PostgreSQL keeps
current on every insert and update — ``COPY``, bulk inserts and the claim's prepared
statements included — and a GIN index on it. The models do not declare the columns: SQLite
(the demo) has neither, and searches there with ``icontains`` instead (see ``selectors``).

The text is cut at ``INDEXED_CHARACTERS`` before it is parsed: a tsvector holds at most 1 MB,
and a longer completion must still be storable.

A candidate also carries its prompt's campaign in ``CAMPAIGN_COLUMN``, set by a trigger on
insert (a prompt never changes campaign): a search of a campaign's candidates checks each
match's campaign in the row it reads anyway, where a join would look its prompt up for every
match counted — most of the time of a search with thousands of matches.

The GIN indexes keep a short pending list (``gin_pending_list_limit`` 256 kB rather than the
default 4 MB): every search reads the whole list of recently inserted rows and tests the query
against each, so a full default list (about 280 pages after a bulk load) costs a rare word's
search more than its own posting list; with none at all (``fastupdate = off``) an insert writes
each of its words into the index at once, which makes a bulk insert of candidates two to three
times as slow. A short list bounds the first and still batches the second.
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


CAMPAIGN_COLUMN = "search_campaign_id"
_CAMPAIGN_FUNCTION = "labeling_candidate_search_campaign"


def campaign_statements() -> list[str]:
    """The candidates' campaign column, its trigger, and the campaign of every stored one."""
    return [
        f"ALTER TABLE labeling_candidate ADD COLUMN {CAMPAIGN_COLUMN} bigint",
        # (Every name below is a constant of this module.)
        f"CREATE FUNCTION {_CAMPAIGN_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $body$\n"  # noqa: S608
        f"BEGIN\n"
        f"  SELECT campaign_id INTO NEW.{CAMPAIGN_COLUMN} FROM labeling_prompt"
        f" WHERE id = NEW.prompt_id;\n"
        f"  RETURN NEW;\n"
        f"END\n$body$",
        f"CREATE TRIGGER {_CAMPAIGN_FUNCTION} BEFORE INSERT OR UPDATE OF prompt_id"
        f" ON labeling_candidate FOR EACH ROW EXECUTE FUNCTION {_CAMPAIGN_FUNCTION}()",
        f"UPDATE labeling_candidate k SET {CAMPAIGN_COLUMN} = p.campaign_id"  # noqa: S608
        f" FROM labeling_prompt p WHERE p.id = k.prompt_id",
    ]


def campaign_uninstall_statements() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {_CAMPAIGN_FUNCTION} ON labeling_candidate",
        f"DROP FUNCTION IF EXISTS {_CAMPAIGN_FUNCTION}()",
        f"ALTER TABLE labeling_candidate DROP COLUMN IF EXISTS {CAMPAIGN_COLUMN}",
    ]


PENDING_LIST_KB = 256


def settings_statements() -> list[str]:
    """A short pending list on the search indexes (and the rows in one moved into the index)."""
    statements = []
    for _, index, _ in SEARCHED_TABLES:
        statements.append(f"ALTER INDEX {index} SET (gin_pending_list_limit = {PENDING_LIST_KB})")
        statements.append(f"SELECT gin_clean_pending_list('{index}'::regclass)")
    return statements


def settings_reset_statements() -> list[str]:
    return [
        f"ALTER INDEX {index} RESET (gin_pending_list_limit)" for _, index, _ in SEARCHED_TABLES
    ]
