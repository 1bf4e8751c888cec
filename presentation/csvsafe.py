"""CSV downloads that a spreadsheet cannot turn into formulas."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

# A cell starting with one of these is read as a formula by spreadsheet programs (OWASP
# "CSV injection"); a leading apostrophe makes it plain text again.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The same triggers in any compatibility form (fullwidth ＝ ＋ － ＠, small ﹦ ﹢ ﹣ ﹫):
# spreadsheets with East Asian input read those as formulas too.
FORMULA_TRIGGERS = frozenset("=+-@")
# Characters that show nothing, so a trigger behind them still looks like the first
# character: format characters (zero-width space and joiners, word joiner, BOM, bidi marks),
# controls, spaces and separators, combining marks, and the blank letters some fonts draw empty.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp", "Mn", "Me"})
INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def neutralise_cell(value: Any) -> Any:
    """Return ``value`` unchanged unless it is text a spreadsheet would evaluate.

    Evaluated: text starting with ``= + - @``, a tab or a carriage return, or with one of
    those signs in a compatibility form (fullwidth, small), or with one of them behind
    invisible characters (zero-width, format, spaces).
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_PREFIXES) or _first_visible_is_trigger(value):
        return "'" + value
    return value


def _first_visible_is_trigger(text: str) -> bool:
    for char in text:
        if char in INVISIBLE_LETTERS or unicodedata.category(char) in INVISIBLE_CATEGORIES:
            continue
        return unicodedata.normalize("NFKC", char)[:1] in FORMULA_TRIGGERS
    return False


def rows_to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Render a table as CSV text with every text cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise_cell(name) for name in header])
    for row in rows:
        writer.writerow(["" if cell is None else neutralise_cell(cell) for cell in row])
    return buffer.getvalue()
