"""Output formats of ``precode code``, by name."""

from __future__ import annotations

from service.batch import write_csv, write_jsonl
from service.report_html import write_html

WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "html": write_html}
