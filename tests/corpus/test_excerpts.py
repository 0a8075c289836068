import json

import pytest

from corpus.codebook_files import load_codebooks
from corpus.errors import ExcerptError
from corpus.excerpts import Excerpt, read_excerpts, to_dataset, write_excerpts


@pytest.fixture(scope="module")
def book():
    return load_codebooks("npt,integrating")


def test_csv_with_multiple_and_empty_codes(tmp_path, book):
    p = tmp_path / "coded.csv"
    p.write_text("id,text,codes,coder\n"
                 "1,We agreed what it was for.,npt.coherence.communal_specification,ana\n"
                 "2,\"Two codes, one line.\",npt.coherence.internalization; integrating.sensemaking,ana\n"
                 "3,Lovely weather today.,,ana\n", encoding="utf-8")
    rows = read_excerpts(p, book)
    assert [r.codes for r in rows] == [("npt.coherence.communal_specification",),
                                       ("npt.coherence.internalization", "integrating.sensemaking"),
                                       ()]
    assert rows[0].coder == "ana" and rows[2].id == "3"


def test_jsonl_accepts_lists_and_keeps_extra_fields(tmp_path, book):
    p = tmp_path / "coded.jsonl"
    p.write_text(json.dumps({"text": "x y", "codes": ["integrating.negotiating"],
                             "scenario": "s1"}) + "\n")
    [row] = read_excerpts(p, book)
    assert row.codes == ("integrating.negotiating",) and row.meta == {"scenario": "s1"}


def test_unknown_code_names_the_row_unless_mapped_or_dropped(tmp_path, book):
    p = tmp_path / "c.csv"
    p.write_text("text,codes\nfine,npt.coherence.differentiation\nbad,npt.coherense\n")
    with pytest.raises(ExcerptError, match=r"c\.csv:3 \[codes\]: unknown code 'npt.coherense'"):
        read_excerpts(p, book)
    rows = read_excerpts(p, book, code_map={"npt.coherense": "npt.coherence"})
    assert rows[1].codes == ("npt.coherence",)
    assert read_excerpts(p, book, drop_unknown=True)[1].codes == ()


@pytest.mark.parametrize("content,match", [
    ("", "empty"),
    ("text,label\na,b\n", "needs the columns 'text' and 'codes'"),
    ("text,codes\n,npt.coherence\n", r":2 \[text\]: empty text"),
    ("text,codes,start,end\na,,5,2\n", r":2 \[end\]: end is before start"),
    ("text,codes,start\na,,x\n", r":2 \[start\]: start must be a whole number"),
])
def test_bad_csv_rows(tmp_path, book, content, match):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(ExcerptError, match=match):
        read_excerpts(p, book)


def test_bad_jsonl_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "a", "codes": []}\n{"text": "b", "codes": [}\n')
    with pytest.raises(ExcerptError, match=r"bad\.jsonl:2: invalid JSON"):
        read_excerpts(p)


def test_write_and_read_back(tmp_path, book):
    rows = [Excerpt(text="Ça va, “quoted”", codes=("npt.coherence.internalization",), id="a",
                    coder="bo", document="d1", start=3, end=18), Excerpt(text="none")]
    for suffix in ("csv", "jsonl"):
        p = write_excerpts(rows, tmp_path / f"out.{suffix}")
        back = read_excerpts(p, book)
        assert [(r.text, r.codes, r.id, r.coder, r.document, r.start, r.end) for r in back] == [
            (r.text, r.codes, r.id, r.coder, r.document, r.start, r.end) for r in rows]


def test_to_dataset_multi_hot():
    rows = [Excerpt(text="a", codes=("x", "z")), Excerpt(text="b"), Excerpt(text="c", codes=("y",))]
    ds = to_dataset(rows, ["x", "y", "z"])
    assert ds.column_names == ["text", "codes", "labels"]
    assert ds["labels"] == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
