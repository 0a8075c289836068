"""Uploaded subtitle files keep their media times in the service, as ``precode code`` keeps them:
in each segment of the API, in the CSV export (``HH:MM:SS.mmm``) and first in each selection's
description in the .qdpx export. Untimed text has none."""

from __future__ import annotations

import csv
import io
import zipfile
from xml.etree import ElementTree as ET

from service.services.users import MODEL_USER
from tests.service.conftest import new_project, precode

VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Interviewer>How did the team agree on the new falls pathway?

00:00:05.000 --> 00:00:09.500
<v Nurse>As a group we worked out the purpose of the new pathway before anyone used it.

00:01:02.250 --> 00:01:09.000
<v Interviewer>And how do you know whether it works?

00:01:10.000 --> 00:01:15.750
<v Nurse>Every quarter we pull the figures to see how many kits actually come back.
"""

# (speaker, time_start, time_end) of each turn
TURNS = [("Interviewer", 1.0, 4.0), ("Nurse", 5.0, 9.5), ("Interviewer", 62.25, 69.0),
         ("Nurse", 70.0, 75.75)]


def _selections(qdpx: bytes) -> list[tuple[int, int, str]]:
    """(start, end, description) of every selection in a .qdpx."""
    with zipfile.ZipFile(io.BytesIO(qdpx)) as zf:
        root = ET.fromstring(zf.read("project.qde"))
    q = root.tag.split("}")[0] + "}"
    return [(int(sel.get("startPosition")), int(sel.get("endPosition")),
             sel.findtext(f"{q}Description") or "")
            for sel in root.iter(f"{q}PlainTextSelection")]


def test_subtitle_times_in_segments_csv_and_qdpx(owner):
    pid = new_project(owner, codebook="npt,integrating")
    res = owner.upload(pid, "ward.vtt", VTT.encode())
    assert res.status_code == 201, res.text
    doc = res.json()["documents"][0]
    segments = owner.get(f"/v1/projects/{pid}/documents/{doc['id']}/segments").json()
    assert [(s["speaker"], s["time_start"], s["time_end"]) for s in segments] == TURNS

    nurse = segments[3]
    added = owner.post(f"/v1/projects/{pid}/codings",
                       json={"segment_id": nurse["id"], "code": "integrating.negotiating"})
    assert added.status_code == 201, added.text
    assert (added.json()["segment"]["time_start"], added.json()["segment"]["time_end"]) == (
        70.0, 75.75)
    precode(owner, pid)

    exported = owner.get(f"/v1/projects/{pid}/export.csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    clocks = {(r["coder"], r["start"]): (r["time_start"], r["time_end"]) for r in rows}
    assert clocks[(owner.name, str(nurse["start"]))] == ("00:01:10.000", "00:01:15.750")
    model = {k[1]: v for k, v in clocks.items() if k[0] == MODEL_USER}
    assert model == {str(segments[1]["start"]): ("00:00:05.000", "00:00:09.500"),
                     str(nurse["start"]): ("00:01:10.000", "00:01:15.750")}

    qdpx = owner.get(f"/v1/projects/{pid}/export.qdpx")
    assert qdpx.status_code == 200
    selections = _selections(qdpx.content)
    assert any((a, b) == (nurse["start"], nurse["end"]) and desc.startswith(
        "Media time 00:01:10.000-00:01:15.750\nNegotiating (integrating.negotiating): coded by "
        f"{owner.name} on ") for a, b, desc in selections)
    clock = {(s["start"], s["end"]): f"Media time {c}" for s, c in [
        (segments[1], "00:00:05.000-00:00:09.500"), (nurse, "00:01:10.000-00:01:15.750")]}
    assert selections and all(desc.split("\n")[0] == clock[(a, b)]
                              for a, b, desc in selections)


def test_untimed_text_has_no_times(owner):
    pid = new_project(owner, codebook="npt,integrating")
    res = owner.upload(pid, "notes.txt", b"Interviewer: How did it start?\n"
                                         b"P3: We all sat down and agreed what it was for.\n")
    assert res.status_code == 201, res.text
    doc = res.json()["documents"][0]
    segments = owner.get(f"/v1/projects/{pid}/documents/{doc['id']}/segments").json()
    assert segments and {(s["time_start"], s["time_end"]) for s in segments} == {(None, None)}
    coded = owner.post(f"/v1/projects/{pid}/codings",
                       json={"segment_id": segments[-1]["id"], "code": "integrating.negotiating"})
    assert coded.status_code == 201, coded.text
    rows = list(csv.DictReader(io.StringIO(owner.get(f"/v1/projects/{pid}/export.csv").text)))
    assert rows and {(r["time_start"], r["time_end"]) for r in rows} == {("", "")}
    selections = _selections(owner.get(f"/v1/projects/{pid}/export.qdpx").content)
    assert selections and not any("Media time" in desc for _, _, desc in selections)


def test_bad_media_time_in_a_table_is_refused(owner):
    pid = new_project(owner, codebook="npt,integrating")
    table = ('{"id": "a", "text": "We met every Monday.", "time_start": 1.5, "time_end": 3}\n'
             '{"id": "b", "text": "Then it stopped.", "time_start": 9, "time_end": 4}\n')
    res = owner.upload(pid, "table.jsonl", table.encode())
    assert res.status_code == 422, res.text
    assert "table.jsonl" in res.text and "'b'" in res.text and "media time" in res.text
    assert owner.get(f"/v1/projects/{pid}/documents").json() == []
