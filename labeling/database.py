"""What the database underneath can do: PostgreSQL in production, SQLite for the demo.

The places that take a PostgreSQL-only path (prepared statements, ``COPY``, server-side
aggregates, planner settings) ask :func:`is_postgresql`; every other database takes the
portable path beside it. Here in ``labeling`` so that ``labeling`` and ``exports`` may both
import it (``policy`` needs no such choice).
"""

from __future__ import annotations

from django.db import connection


def is_postgresql() -> bool:
    """Whether the default database is PostgreSQL (rather than the demo's SQLite)."""
    return connection.vendor == "postgresql"
