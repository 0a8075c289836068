"""Reading codings for agreement: long/wide CSV, coded excerpts, precode output, annotation
sheets, the .qdpx hook, and errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.errors import PrecodeInputError
from eval.agreement_io import (
    Codings,
    Span,
    as_nominal,
    read_ci_claims_annotators,
    read_codings,
    read_file,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_long_csv(tmp_path):
    path = write(tmp_path / "long.csv", "unit,coder,code,text\n"
                 "u1,A,x,first\nu1,A,y,\nu1,B,x,\nu2,A,,second\nu2,B,z,\n")
    c = read_file(path)
    assert c == {"A": {"u1": {"x", "y"}, "u2": set()}, "B": {"u1": {"x"}, "u2": {"z"}}}
    assert c.texts == {"u1": "first", "u2": "second"}
    assert c.coders == ["A", "B"] and c.units == ["u1", "u2"] and c.codes == ["x", "y", "z"]
    assert c.origin[("A", "u2")] == (str(path), 5)


def test_wide_csv_cells_and_not_seen(tmp_path):
    path = write(tmp_path / "wide.csv", "Unit,text,ann,bob,cy\n"
                 "u1,hello,a;b,a,NA\n"
                 "u2,,,b,b\n"
                 "u3,,c\n")
    c = read_file(path)
    assert c["ann"] == {"u1": {"a", "b"}, "u2": set(), "u3": {"c"}}
    assert c["bob"] == {"u1": {"a"}, "u2": {"b"}}  # missing cell: did not see u3
    assert c["cy"] == {"u2": {"b"}}  # NA: did not see u1
    assert c.texts == {"u1": "hello"}


def test_excerpt_files_one_per_coder(tmp_path):
    write(tmp_path / "alice.csv", "id,text,codes,document,start,end\n"
          "s1,We met weekly.,a;b,doc1,0,14\ns2,Nothing here.,,doc1,15,28\n")
    write(tmp_path / "bob.jsonl", "\n".join(json.dumps(r) for r in [
        {"text": "We met weekly.", "codes": ["a"], "coder": "Robert"},
        {"id": "s2", "text": "Nothing here.", "codes": ["c"]}]) + "\n")
    c = read_codings([tmp_path / "alice.csv", tmp_path / "bob.jsonl"])
    assert c["alice"] == {"s1": {"a", "b"}, "s2": set()}  # coder = file stem
    assert c["Robert"] == {"We met weekly.": {"a"}}  # coder column; no id: the text is the unit
    assert c["bob"] == {"s2": {"c"}}
    assert c.texts["s1"] == "We met weekly."
    assert c.spans == {"alice": [Span("doc1", 0, 14, "a"), Span("doc1", 0, 14, "b")]}
    assert c.lengths == {"doc1": 28}


def precode_records():
    return [
        {"document": "int1", "segment_id": "int1#1", "start": 0, "end": 20, "speaker": "I",
         "text": "How did it start?", "interviewer": True, "suggestions": [], "coded": False},
        {"document": "int1", "segment_id": "int1#2", "start": 21, "end": 60, "speaker": "P",
         "text": "We all agreed what it was for.", "interviewer": False, "coded": True,
         "suggestions": [{"code": "a", "confidence": 0.8, "evidence": []},
                         {"code": "b", "confidence": 0.6}]},
        {"document": "int1", "segment_id": "int1#3", "start": 61, "end": 90, "speaker": "P",
         "text": "Then nothing.", "interviewer": False, "coded": True, "suggestions": []},
    ]


def test_precode_jsonl_is_the_model(tmp_path):
    path = write(tmp_path / "coded.jsonl",
                 "\n".join(json.dumps(r) for r in precode_records()) + "\n")
    c = read_file(path)
    assert c == {"model": {"int1#2": {"a", "b"}, "int1#3": set()}}  # uncoded turn: not seen
    assert c.texts["int1#2"] == "We all agreed what it was for."
    assert sorted(c.spans["model"]) == [Span("int1", 21, 60, "a"), Span("int1", 21, 60, "b")]
    assert c.lengths == {"int1": 90}


def test_precode_csv_is_the_model(tmp_path):
    path = write(tmp_path / "coded.csv", "document,segment_id,start,end,speaker,text,codes,"
                 "confidences\nint1,int1#2,21,60,P,We agreed.,a;b,0.8;0.6\n")
    assert read_file(path) == {"model": {"int1#2": {"a", "b"}}}


def test_codebook_checks_codes(tmp_path, npt_integrating):
    path = write(tmp_path / "long.csv", "unit,coder,code\nu1,A,npt.coherence\nu1,B,nonsense\n")
    with pytest.raises(PrecodeInputError, match=r"long\.csv:3 \[code\]: unknown code 'nonsense'"):
        read_file(path, codebook=npt_integrating)


def test_as_nominal(tmp_path):
    path = write(tmp_path / "long.csv", "unit,coder,code\nu1,A,x\nu1,B,x\nu2,A,x\nu2,A,y\n")
    with pytest.raises(PrecodeInputError, match=r"long\.csv:4: unit 'u2', coder 'A'.*got x, y"):
        as_nominal(read_file(path))
    assert as_nominal(Codings({"A": {"u": {"x"}}, "B": {"u": {"y"}}})) == {"A": {"u": "x"},
                                                                       "B": {"u": "y"}}
    with pytest.raises(PrecodeInputError, match="got none"):
        as_nominal(Codings({"A": {"u": set()}}))


@pytest.mark.parametrize("text, message", [
    ("coder,code\nA,x\n", r"t\.csv:1: a long table needs .* missing: unit"),
    ("unit,coder\nu1,A\n", r"t\.csv:1: .*missing: code"),
    ("id,rater,label\nu1,A,x\n", r"t\.csv:1: unknown table"),
    ("unit,coder,code\n,A,x\n", r"t\.csv:2 \[unit\]: empty unit"),
    ("unit,A,A\nu1,x,y\n", r"t\.csv:1: two columns have the same coder name"),
    ("unit,coder,code\n", None),
])
def test_bad_tables_name_file_and_line(tmp_path, text, message):
    path = write(tmp_path / "t.csv", text)
    if message is None:  # a header alone: no codings, not an error here
        assert read_file(path) == {}
        return
    with pytest.raises(PrecodeInputError, match=message):
        read_file(path)


def test_bad_files(tmp_path):
    with pytest.raises(PrecodeInputError, match=r"t\.txt: codings must be"):
        read_file(write(tmp_path / "t.txt", "x"))
    with pytest.raises(PrecodeInputError, match="the file is empty"):
        read_file(write(tmp_path / "e.csv", ""))
    bad = write(tmp_path / "m.jsonl", json.dumps({"document": "d", "segment_id": "s", "start": 0,
                                                  "end": 3, "suggestions": [{"x": 1}]}) + "\n")
    with pytest.raises(PrecodeInputError, match=r"m\.jsonl:1 \[suggestions\]"):
        read_file(bad)


def test_one_coder_unit_from_two_files_is_an_error(tmp_path):
    a = write(tmp_path / "a.csv", "unit,coder,code\nu1,A,x\n")
    b = write(tmp_path / "b.csv", "unit,coder,code\nu1,A,y\n")
    with pytest.raises(PrecodeInputError, match=r"b\.csv:2: coder 'A' coded unit 'u1' already"):
        read_codings([a, b])


def test_qdpx_project(tmp_path, npt_integrating):
    """A REFI-QDA project: each user a coder, units ``document:start-end``, every coding also a
    span, the document's true length and the codes' names."""
    from corpus.refi import write_qdpx

    text = "We met on Mondays. It made sense after a while, honestly."
    path = write_qdpx(tmp_path / "project.qdpx", codebook=npt_integrating,
                      documents=[("int1", text)],
                      codings=[{"document": "int1", "start": 0, "end": 5, "user": "A",
                                "codes": ["npt.coherence", "integrating.sensemaking"]},
                               {"document": "int1", "start": 0, "end": 5, "user": "B",
                                "codes": ["npt.coherence"]}])
    c = read_file(path)
    assert c == {"A": {"int1:0-5": {"npt.coherence", "integrating.sensemaking"}},
                 "B": {"int1:0-5": {"npt.coherence"}}}
    assert sorted(c.spans["A"]) == [Span("int1", 0, 5, "integrating.sensemaking"),
                                    Span("int1", 0, 5, "npt.coherence")]
    assert c.lengths == {"int1": len(text)} and c.known_lengths == {"int1"}
    assert c.labels["npt.coherence"] == "Coherence"


def test_annotation_sheets(annotation_sheets):
    c = read_ci_claims_annotators(annotation_sheets.folder)
    assert c.coders == ["human_annotator_1", "human_annotator_2"]  # coders named by file stem
    # title, instructions and theme lines are not claims
    assert c.units == [f"C{n}" for n in range(101, 111)]
    assert all(len(units) == 10 for units in c.values())
    for coder, codes in annotation_sheets.codes.items():
        assert [c[coder][u] for u in c.units] == [{code} for code in codes]
    assert c.texts["C102"] == "FEWER BROKEN BUILDS, AND FASTER FIXES"  # quoted commas
    assert c.texts["C105"] == 'THE TEAM DID LESS "PAPERWORK"'
    assert len(c.codes) == 8
    assert c.origin[("human_annotator_2", "C106")] == (str(annotation_sheets.files[1]), 11)
    assert read_file(annotation_sheets.files[0]) == {
        "human_annotator_1": c["human_annotator_1"]}  # one sheet on its own


def test_annotation_sheet_errors(tmp_path, annotation_sheets):
    with pytest.raises(PrecodeInputError, match=r"no human_annotator_\*\.csv files"):
        read_ci_claims_annotators(tmp_path / "empty")
    header_only = "\r\n".join(annotation_sheets.files[0].read_text(encoding="utf-8").splitlines()[:4])
    with pytest.raises(PrecodeInputError, match=r"human_annotator_9\.csv: no coded claims"):
        read_file(write(tmp_path / "human_annotator_9.csv", header_only + "\r\n"))


def test_ci_claims_annotation_sheets(reference_data):
    c = read_ci_claims_annotators(reference_data / "ci_claims")
    assert c.coders == ["human_annotator_1", "human_annotator_2"]
    assert len(c.units) == 113 and all(len(units) == 113 for units in c.values())
    assert all(len(codes) == 1 for units in c.values() for codes in units.values())
    assert len(c.codes) == 31  # the taxonomy's 31 codes
    assert c.texts["C986"] == "SHORTEN THE BUILD TIME"
    assert c["human_annotator_1"]["C986"] == {"CI IS ASSOCIATED WITH A DECREASING IN BUILD TIME"}
