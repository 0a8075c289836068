"""Reading user text files: decoding (UTF-8, UTF-8 with BOM, cp1252) and JSON Lines, with errors
that name the file and line."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path

from corpus.errors import PrecodeInputError


def read_bytes(path: str | Path, *, error: type[PrecodeInputError] = PrecodeInputError) -> bytes:
    """The file's bytes; a file that cannot be read or holds only whitespace raises ``error``."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", source=str(path)) from exc
    if not raw.strip():
        raise error("the file is empty", source=str(path))
    return raw


def decode_file(path: str | Path, *, error: type[PrecodeInputError] = PrecodeInputError
                ) -> tuple[str, str]:
    """The file's text (without a BOM) and the encoding used: ``utf-8``, ``utf-8-sig`` or
    ``cp1252``. Empty, binary and undecodable files raise ``error``."""
    src = str(path)
    raw = read_bytes(path, error=error)
    if b"\x00" in raw:
        raise error("contains NUL bytes: a binary file or UTF-16 text, not a UTF-8 or cp1252 "
                    "text file", source=src)
    if raw.startswith(codecs.BOM_UTF8):
        raw, encoding = raw[len(codecs.BOM_UTF8):], "utf-8-sig"
    else:
        encoding = "utf-8"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text, encoding = raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError as exc:
            raise error(f"cannot decode byte 0x{raw[exc.start]:02x} at position {exc.start}: "
                        "not UTF-8 or cp1252 text", source=src) from None
    if not text.strip():
        raise error("the file is empty", source=src)
    return text, encoding


def read_text(path: str | Path, *, error: type[PrecodeInputError] = PrecodeInputError) -> str:
    return decode_file(path, error=error)[0]


def jsonl_objects(text: str, *, source: str,
                  error: type[PrecodeInputError] = PrecodeInputError
                  ) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for every non-blank line; each line must be a JSON object."""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"invalid JSON: {exc.msg}", source=source, line=n) from None
        if not isinstance(row, dict):
            raise error("each line must be a JSON object", source=source, line=n)
        yield n, row
