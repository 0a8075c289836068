"""``precode code`` on subtitles: every segment's media time in the JSONL and CSV output, and the
speaker names in the text a CAQDAS package imports."""

from __future__ import annotations

import csv
import json

from service.batch import PrecodeOptions, segment_records, write_csv, write_jsonl
from service.writers import document_text

SRT = """1
00:00:01,000 --> 00:00:04,500
Interviewer: How did the new rota start?

2
00:00:04,500 --> 00:00:09,250
Nurse: Badly. Nobody had read the email.

3
00:01:00,000 --> 00:01:02,000
Nurse: Then we met every Monday.
"""


def test_srt_times_in_jsonl_csv_and_speakers_in_text(tmp_path):
    path = tmp_path / "ward.srt"
    path.write_text(SRT, encoding="utf-8")
    records = segment_records(path, "ward", PrecodeOptions(unit="turn"))
    write_jsonl(records, tmp_path / "out.jsonl")
    write_csv(records, tmp_path / "out.csv")
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["speaker"], r["time_start"], r["time_end"]) for r in lines] == [
        ("Interviewer", 1.0, 4.5), ("Nurse", 4.5, 62.0)]
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["time_start"], r["time_end"]) for r in rows] == [
        ("00:00:01.000", "00:00:04.500"), ("00:00:04.500", "00:01:02.000")]
    text, spans = document_text(path, records)
    assert text.startswith("Interviewer: How did the new rota start?\nNurse: Badly.")
    assert [text[s:e] for s, e in spans] == [r["text"] for r in records]


def test_untimed_text_has_empty_time_columns(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Interviewer: Hello there.\nP1: Hello to you.\n", encoding="utf-8")
    records = segment_records(path, "t", PrecodeOptions())
    assert all("time_start" not in r for r in records)
    write_csv(records, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as fh:
        assert {(r["time_start"], r["time_end"]) for r in csv.DictReader(fh)} == {("", "")}
