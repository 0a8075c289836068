"""Errors raised for bad input. Each names where the problem is: file, line or field."""

from __future__ import annotations


class PrecodeInputError(ValueError):
    """Bad input from the user: a file, a row or a field that cannot be used.

    The message always starts with the location (``path:line`` or ``path`` or a field name), so a
    command-line front end can print it as a single line.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.source = source
        self.line = line
        self.field = field
        self.reason = message
        where = source or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        if field:
            where = f"{where} [{field}]" if where else field
        super().__init__(f"{where}: {message}" if where else message)


class CodebookError(PrecodeInputError):
    """A codebook file that cannot be loaded or does not validate."""


class TranscriptError(PrecodeInputError):
    """A transcript or segment file that cannot be read."""


class ExcerptError(PrecodeInputError):
    """A coded-excerpt file with a bad row."""
