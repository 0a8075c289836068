"""Text positions as each CAQDAS program counts them in a REFI-QDA project.

The REFI-QDA standard says that ``startPosition``/``endPosition`` of a ``<PlainTextSelection>``
count characters of the source's plain text, without saying what a character is. The programs
differ, and only texts with characters outside the Basic Multilingual Plane (emoji, some CJK and
historic scripts) show the difference:

* **NVivo** (Windows and Mac) counts **UTF-16 code units**: an emoji is two. Shown on real NVivo
  12.6 (Windows) and 12.7 (Mac) exports: read as UTF-16 units all 697 of their codings cover the
  text NVivo shows, read as code points 62 do.
* **ATLAS.ti** (.NET on Windows, Cocoa on macOS) and **MAXQDA** (Qt) keep text in UTF-16 strings
  and count the same way; so does every reader that follows NVivo. Unknown programs are read
  this way too.
* **QualCoder** stores text in SQLite and cuts it with Python string indices: it counts
  **Unicode code points**.
* **precode** wrote code points up to the release whose ``origin`` was the bare word
  ``precode``; it now writes UTF-16 units and says so in ``origin`` (:data:`PRECODE_ORIGIN`).

In every program the count starts after a byte-order mark (a BOM is not text) and a Windows line
end (CR LF) counts as two, because the positions index the text file as stored; the readers in
:mod:`corpus.refi` therefore keep the text exactly as the file has it (without the BOM) and
convert positions to and from Python string indices (code points) at the file's edge.
"""

from __future__ import annotations

import re
from bisect import bisect_left

UTF16 = "utf16"
CODEPOINT = "codepoint"
UNITS = (UTF16, CODEPOINT)
PRECODE_ORIGIN = "precode (positions in UTF-16 code units)"

_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def position_unit(origin: str | None) -> str:
    """How the program named in a project's ``origin`` attribute counts positions: ``"utf16"``
    or ``"codepoint"`` (see the module's docstring for why)."""
    name = (origin or "").strip().casefold()
    if "qualcoder" in name or name == "precode":
        return CODEPOINT
    return UTF16


class TextPositions:
    """Converts between code-point indices (Python ``str`` indices) of one text and the positions
    a program with the given unit writes for it."""

    def __init__(self, text: str, unit: str = UTF16):
        if unit not in UNITS:
            raise ValueError(f"unknown position unit {unit!r}")
        self.text = text
        self.unit = unit
        self._astral = [m.start() for m in _ASTRAL.finditer(text)] if unit == UTF16 else []
        # the UTF-16 position where each astral character starts
        self._starts = [cp + k for k, cp in enumerate(self._astral)]

    @property
    def length(self) -> int:
        """The text's length in the unit."""
        return len(self.text) + len(self._astral)

    def to_index(self, position: int, *, end: bool = False) -> int:
        """The code-point index for a position in the unit. A UTF-16 position that falls between
        the two halves of a surrogate pair is moved to the start of that character, or past it
        for the end of a selection (``end=True``), so the selection keeps the whole character."""
        if not self._starts:
            return position
        before = bisect_left(self._starts, position)  # astral characters starting before it
        inside = before and self._starts[before - 1] + 1 == position  # between the two halves
        return position - before + (1 if inside and end else 0)

    def to_position(self, index: int) -> int:
        """The position in the unit for a code-point index."""
        if not self._astral:
            return index
        return index + bisect_left(self._astral, index)
