"""Output formats of ``precode code``, by name."""

from __future__ import annotations

from service.batch import write_csv, write_jsonl

WRITERS = {"jsonl": write_jsonl, "csv": write_csv}
