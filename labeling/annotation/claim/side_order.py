"""Which candidate one annotator sees on the left of one pair.

Random-looking, so that the side a candidate is shown on does not follow its model or
style, but stable: the same annotator always sees the same pair the same way round.
PostgreSQL's claim statement computes the same bit in SQL (``postgres._SIDES_SQL``), since
it picks the pair inside the statement; ``test_side_order_in_sql_is_the_python_one`` in
tests/labeling/annotation/test_round_trip.py compares the two.
"""

from __future__ import annotations

import hashlib


def left_is_a_for(*, annotator_id: int, pair_id: int) -> bool:
    """The side order shown to one annotator for one pair: random-looking, but stable."""
    digest = hashlib.sha256(f"graylab-sides:{annotator_id}:{pair_id}".encode()).digest()
    return bool(digest[0] & 1)
