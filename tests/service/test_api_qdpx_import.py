"""Codings inside an uploaded .qdpx project: imported under each coder's name, matched to the
project's codebook, mapped onto segments, used as evidence, in exports and in agreement -- on the
real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from corpus.codebook import Code, Codebook
from tests.service.conftest import api_for, new_project, precode, qdpx_bytes
from tests.service.test_api_projects import assert_problem

WARD = ("Interviewer: How did the clinic get its room back?\n"
        "P1: The consultants wanted the slots in the morning and we wanted afternoons, so in the "
        "end we split the week between us and everyone signed it off.\n"
        "Interviewer: And since then?\n"
        "P1: Every month I count how many referrals came through and show the figures to the "
        "team meeting, which is how we noticed the Friday gap.\n"
        "Interviewer: How are things otherwise?\n"
        "P1: My son started school this year.\n")
SPLIT = WARD.index("we split the week")
FIGURES = WARD.index("Every month")

# the coders' own codebook: same names as the project's, other ids, and one code it lacks
THEIRS = Codebook.from_codes([
    Code(id="ours.deals", label="Negotiating", definition="Trading and bargaining."),
    Code(id="ours.counting", label="  systematization ", definition="Collecting figures."),
    Code(id="ours.family", label="Family life", definition="Home matters."),
], id="ours", label="Our codebook")


def ward_project(tmp_path: Path, *, family: bool = True) -> bytes:
    from corpus.refi import write_qdpx

    codings = [
        # a short quotation inside a long turn: that turn
        {"document": "ward-1", "start": SPLIT, "end": SPLIT + 17, "codes": ["ours.deals"],
         "user": "Ruth"},
        # most of a turn
        {"document": "ward-1", "start": FIGURES, "end": FIGURES + 100,
         "codes": ["ours.counting"], "user": "Ruth"},
        {"document": "ward-1", "start": FIGURES - 5, "end": FIGURES + 140,
         "codes": ["ours.counting", "ours.deals"], "user": "Sam"},
    ]
    if family:
        codings.append({"document": "ward-1", "start": WARD.index("My son"),
                        "end": WARD.index("My son") + 20, "codes": ["ours.family"],
                        "user": "Sam"})
    path = write_qdpx(tmp_path / "ward.qdpx", codebook=THEIRS, documents=[("ward-1", WARD)],
                      codings=codings)
    return path.read_bytes()


def imported(api, pid: int) -> list[dict]:
    res = api.get(f"/v1/projects/{pid}/suggestions", params={"origin": "imported",
                                                             "order": "position"})
    assert res.status_code == 200, res.text
    return res.json()["items"]


def detail(api, pid: int, suggestion_id: int) -> dict:
    return api.get(f"/v1/projects/{pid}/suggestions/{suggestion_id}").json()


def test_codings_of_each_coder_are_imported(owner, tmp_path):
    pid = new_project(owner, codebook="npt,integrating")
    res = owner.upload(pid, "ward.qdpx", ward_project(tmp_path, family=False))
    assert res.status_code == 201, res.text
    assert any("imported 4 coding(s)" in n and "Ruth, Sam" in n for n in res.json()["notes"])
    rows = imported(owner, pid)
    got = sorted((s["segment"]["text"][:20], s["code"]) for s in rows)
    assert got == sorted([
        ("The consultants want", "integrating.negotiating"),
        ("Every month I count ", "npt.reflexive_monitoring.systematization"),
        ("Every month I count ", "npt.reflexive_monitoring.systematization"),
        ("Every month I count ", "integrating.negotiating")])
    assert {s["status"] for s in rows} == {"accepted"}
    first = detail(owner, pid, rows[0]["id"])
    [review] = first["reviews"]
    assert (review["action"], review["coder"], review["reviewer"]) == ("import", "Ruth",
                                                                       owner.name)
    assert "ward.qdpx" in review["note"]


def test_imported_codings_are_evidence_and_in_agreement_and_exports(owner, tmp_path):
    pid = new_project(owner, codebook="npt,integrating")
    owner.upload(pid, "ward.qdpx", ward_project(tmp_path, family=False))
    row = next(s for s in imported(owner, pid) if "consultants" in s["segment"]["text"])
    mine = f"segment-{row['segment']['id']}"
    body = {"segments": [{"id": "q", "text": row["segment"]["text"]}], "min_confidence": 0.0}
    got = owner.post(f"/v1/projects/{pid}/suggest", json=body).json()["segments"][0]
    assert any(e["id"] == mine for s in got["suggestions"] for e in s["evidence"]), got

    precode(owner, pid)
    report = owner.get(f"/v1/projects/{pid}/agreement", params={"bootstrap": 0}).json()
    assert {"Ruth", "Sam", "precode model"} <= set(report["coders"])
    exported = list(csv.DictReader(io.StringIO(
        owner.get(f"/v1/projects/{pid}/export.csv").text)))
    ruth = [r for r in exported if r["coder"] == "Ruth"]
    # Ruth read the whole document: three participant turns, one she left uncoded
    assert sorted((r["text"][:12], r["code"]) for r in ruth) == sorted([
        ("The consulta", "integrating.negotiating"),
        ("Every month ", "npt.reflexive_monitoring.systematization"),
        ("My son start", "")])
    assert all(r["origin"] == "human" for r in ruth)


def test_unknown_codes_are_refused_or_dropped_and_nothing_is_half_stored(owner, tmp_path):
    pid = new_project(owner, codebook="npt,integrating")
    data = ward_project(tmp_path)
    body = assert_problem(owner.upload(pid, "ward.qdpx", data), 422)
    assert "Family life" in body["detail"] and "unknown_codes=drop" in body["detail"]
    assert "ward.qdpx" in body["detail"]
    assert owner.get(f"/v1/projects/{pid}/documents").json() == []
    assert imported(owner, pid) == []

    res = owner.post(f"/v1/projects/{pid}/documents", params={"unknown_codes": "drop"},
                     files={"file": ("ward.qdpx", data, "application/octet-stream")})
    assert res.status_code == 201, res.text
    assert any("left out 1 coding(s) of 1 code(s)" in n and "Family life" in n
               for n in res.json()["notes"])
    assert len(imported(owner, pid)) == 4

    res = owner.post(f"/v1/projects/{pid}/documents", params={"codings": "ignore"},
                     files={"file": ("ward.qdpx", data, "application/octet-stream")})
    assert res.status_code == 201 and any("not imported" in n for n in res.json()["notes"])
    assert len(imported(owner, pid)) == 4  # the second copy brought none
    assert_problem(owner.post(f"/v1/projects/{pid}/documents", params={"codings": "maybe"},
                              files={"file": ("ward.qdpx", data)}), 422)


def test_a_project_with_the_same_codebook_imports_by_id(owner, tmp_path, npt_integrating):
    pid = new_project(owner, codebook="npt,integrating")
    res = owner.upload(pid, "p.qdpx", qdpx_bytes(tmp_path, npt_integrating))
    assert res.status_code == 201, res.text
    [row] = imported(owner, pid)
    assert row["code"] == "integrating.negotiating" and "consultants" in row["segment"]["text"]


def test_people_can_review_imported_codings(app, owner, tmp_path):
    pid = new_project(owner, codebook="npt,integrating")
    owner.upload(pid, "ward.qdpx", ward_project(tmp_path, family=False))
    coder = api_for(app, "checker")
    owner.post(f"/v1/projects/{pid}/members", json={"user": coder.name, "role": "coder"})
    row = imported(owner, pid)[0]
    res = coder.post(f"/v1/projects/{pid}/suggestions/{row['id']}/review",
                     json={"action": "reject", "note": "not a negotiation"})
    assert res.status_code == 200, res.text
    assert [r["action"] for r in res.json()["reviews"]] == ["import", "reject"]


@pytest.mark.parametrize("coding, turns", [
    ((SPLIT, SPLIT + 5), ["P1: The consultants"]),
    ((WARD.index("P1: The"), FIGURES + 100),  # across turns: each covered at least half
     ["P1: The consultants", "Interviewer: And since", "P1: Every month"]),
    ((SPLIT, FIGURES + 40), ["Interviewer: And since"]),  # the tail and head of two long turns
    ((WARD.index("P1: Every") - 3, WARD.index("P1: Every") + 2), []),  # a sliver of each
])
def test_codings_land_on_the_segments_they_cover(coding, turns):
    from service.services.imports import FileCoding, coded_segments

    class Seg:
        def __init__(self, i, start, end):
            self.id, self.start, self.end = i, start, end

    segs, pos = [], 0
    for i, line in enumerate(WARD.splitlines(keepends=True)):
        segs.append(Seg(i, pos, pos + len(line.rstrip("\n"))))
        pos += len(line)
    got = coded_segments(segs, [FileCoding("R", "c", "C", *coding)])
    found = [WARD[s.start:s.end] for s in segs if (s.id, "R") in got]
    assert [f[:len(t)] for f, t in zip(found, turns, strict=False)] == turns
    assert len(found) == len(turns)
