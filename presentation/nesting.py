"""How deeply is a JSON or YAML document nested? Answered before parsing, without recursion.

Python's ``json`` and PyYAML's composer descend one call per level, so a body of 100,000 ``[``
ends in ``RecursionError``. These checks find the first container that goes deeper than a limit
and say where it is, so callers refuse the input with a reason instead of failing later.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

import yaml

# The depth step of each byte: +1 for an opening bracket, -1 for a closing one, 0 otherwise.
_STEP = [0] * 256
for _byte in b"[{":
    _STEP[_byte] = 1
for _byte in b"]}":
    _STEP[_byte] = -1
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


@dataclass(frozen=True)
class TooDeep:
    """Where a document first goes deeper than ``limit`` (line and column count from 1)."""

    limit: int
    line: int
    column: int

    def message(self, kind: str) -> str:
        """``"JSON nested deeper than 64 levels (line 1, column 65)"``."""
        return (
            f"{kind} nested deeper than {self.limit} levels "
            f"(line {self.line}, column {self.column})"
        )


def json_too_deep(data: bytes, limit: int) -> TooDeep | None:
    """The first array or object of UTF-8 JSON ``data`` nested deeper than ``limit``, or None.

    Brackets inside strings do not count. Malformed JSON is not reported here (the parser
    does that); the scan only has to be right for input the parser would accept. Every step
    runs in C over the whole buffer, so a body at the size limit costs milliseconds.
    """
    # Escaped backslashes, then escaped quotes, become two neutral bytes (same length), so
    # every quote left opens or closes a string; split on quotes, the even pieces lie outside
    # strings. UTF-8 never uses these ASCII bytes inside a multi-byte character.
    plain = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    pieces = plain.split(b'"')
    outside = b"".join(pieces[0::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    # Fewer openings than the limit cannot nest deeper than it: the common case stops here.
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return None
    if max(accumulate(map(_STEP.__getitem__, brackets))) <= limit:
        return None
    # Too deep: find the offending bracket in the original bytes to name its line and column.
    depths = array("i", accumulate(map(_STEP.__getitem__, outside)))
    index = depths.index(limit + 1)
    ends = list(accumulate(map(len, pieces[0::2])))
    piece = bisect_right(ends, index)
    # Before outside piece ``piece`` lie ``piece`` strings, each with its two quotes.
    offset = index + sum(map(len, pieces[1 : 2 * piece : 2])) + 2 * piece
    line_start = data.rfind(b"\n", 0, offset) + 1
    return TooDeep(
        limit=limit,
        line=data.count(b"\n", 0, offset) + 1,
        column=len(data[line_start:offset].decode("utf-8", "replace")) + 1,
    )


def yaml_too_deep(text: str, limit: int) -> TooDeep | None:
    """The first sequence or mapping of YAML ``text`` nested deeper than ``limit``, or None.

    Reads PyYAML's event stream (its scanner and parser keep explicit stacks, unlike its
    composer) and stops at the first collection too deep. Raises ``yaml.YAMLError`` for
    malformed YAML met before that point, exactly as ``yaml.safe_load`` would.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                mark = event.start_mark
                # PyYAML's pure parser always sets the mark; (0, 0) would mean "unknown".
                where = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
                return TooDeep(limit=limit, line=where[0], column=where[1])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None
