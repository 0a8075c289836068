"""Real REFI-QDA exports from NVivo (Windows and Mac), MAXQDA and Taguette
(the reference data's ``refi_exports`` folder): every coding lands on the text the program shows, the counts
match what the program wrote, and precode's own .qdpx puts a coding where NVivo reads it."""

import json
import re
import zipfile
from pathlib import Path

import pytest

from corpus.positions import CODEPOINT, UTF16, TextPositions, position_unit
from corpus.refi import coder_name, project_excerpts, read_qdpx, write_qdpx

pytestmark = pytest.mark.reference_data

DERIVED = {  # ground truth written beside each NVivo export: one line per coding
    "nvivo_win_12.6/oltas0517.qdpx": "nvivo_win_12.6/derived_nvivo_win_12.6_oltas0517.jsonl",
    "nvivo_win_12.6/oltas.qdpx": "nvivo_win_12.6/derived_nvivo_win_12.6_oltas.jsonl",
    "nvivo_mac_12.7/OltasSzkepticizmus_17June.qdpx":
        "nvivo_mac_12.7/derived_nvivo_mac_12.7_OltasSzkepticizmus_17June.jsonl",
}


@pytest.fixture(scope="module")
def exports(reference_data) -> Path:
    folder = reference_data / "refi_exports"
    if not folder.is_dir():
        pytest.skip(f"reference data not found: needs refi_exports/ in {reference_data}")
    return folder


def _path(book, code_id: str) -> str:
    return "/".join(book[c].label for c in [*reversed(book.ancestors(code_id)), code_id])


@pytest.mark.parametrize("export", sorted(DERIVED))
def test_every_nvivo_coding_covers_the_text_nvivo_shows(exports, export):
    project = read_qdpx(exports / export)
    assert project.position_unit == UTF16 and project.origin.startswith("NVivo")
    truth = [json.loads(line) for line in (exports / DERIVED[export]).read_text("utf-8").splitlines()]
    names = {g: s.name for g, s in project.sources.items()}
    got = {}
    for c in project.codings:
        text = project.sources[c.source_guid].text[c.start:c.end]
        got[(c.selection_guid, _path(project.codebook, c.code_id))] = (
            names[c.source_guid], c.start, c.end, text.replace("\r\n", "\n"),
            coder_name(project, c.user_guid))
    assert len(got) == len(project.codings) == len(truth)
    wrong = [row for row in truth if got.get((row["selection_guid"], row["code_path"])) != (
        row["source"], row["start_codepoint_in_file_text"], row["end_codepoint_in_file_text"],
        row["text_lf_normalized"], row["user"])]
    assert wrong == [], f"{len(wrong)} of {len(truth)} codings on the wrong text"
    # the excerpts precode trains on are the same texts, with LF line ends
    texts = {e.text for e in project_excerpts(project)}
    assert texts == {row["text_lf_normalized"] for row in truth}


def test_counts_match_what_each_program_exported(exports):
    expected = json.loads((exports / "expected_counts.json").read_text("utf-8"))
    for key, want in expected.items():
        path = next(exports.rglob(want["file"]))
        project = read_qdpx(path)
        where = f"{key}: "
        assert project.origin == want["origin"], where
        assert sorted(project.users.values()) == sorted(u["name"] for u in want["users"]), where
        book = project.codebook
        assert len(book) == want["n_codes"], where
        assert len(book.roots()) == want["n_top_level_codes"], where
        assert max(book.depth(c.id) for c in book) + 1 == want["max_code_depth"], where
        assert len(project.sources) == len(want["sources"]), where
        per_source: dict[str, int] = {}
        for c in project.codings:
            per_source[c.source_guid] = per_source.get(c.source_guid, 0) + 1
        for s in want["sources"]:
            source = project.sources[s["guid"].lower()]
            assert source.name == s["name"], where
            assert not source.text.startswith("\ufeff"), where  # the BOM is not text
            assert ("\r\n" in source.text) == s["text_has_crlf"], where  # kept as written
            assert len(source.text) == s["text_len_codepoints_excl_bom"], where
            assert TextPositions(source.text).length == s["text_len_utf16_units_excl_bom"], where
            assert per_source.get(source.guid, 0) == s["n_codings"], where
        assert len(project.codings) == want["n_codings"], where
        by_user: dict[str, int] = {}
        for c in project.codings:
            name = coder_name(project, c.user_guid)
            by_user[name] = by_user.get(name, 0) + 1
        assert by_user == want["codings_by_user"], where


def test_position_unit_follows_the_program_that_wrote_the_file():
    assert position_unit("NVivo for Windows 12.6") == UTF16
    assert position_unit("NVivo for Mac 15.0.0") == UTF16
    assert position_unit("MAXQDA 24 (Release 24.7.0)") == UTF16
    assert position_unit("ATLAS.ti for Windows 23.2.3.27778") == UTF16
    assert position_unit("QualCoder 3.6") == CODEPOINT
    assert position_unit("precode") == CODEPOINT  # what precode wrote before it counted UTF-16
    assert position_unit(None) == UTF16


def test_precode_writes_positions_where_nvivo_reads_them(exports, tmp_path):
    """The Windows export's text (CRLF, emoji) and codings written back by precode: the raw
    positions are NVivo's own, and reading the file again gives every coding on its text."""
    src = exports / "nvivo_win_12.6/oltas0517.qdpx"
    project = read_qdpx(src)
    names = {g: s.name for g, s in project.sources.items()}
    codings = [{"document": names[c.source_guid], "start": c.start, "end": c.end,
                "codes": [c.code_id], "user": coder_name(project, c.user_guid)}
               for c in project.codings]
    out = write_qdpx(tmp_path / "back.qdpx", codebook=project.codebook,
                     documents=[(s.name, s.text) for s in project.sources.values()],
                     codings=codings)
    with zipfile.ZipFile(src) as zf:
        original = zf.read("project.qde").decode("utf-8")
    with zipfile.ZipFile(out) as zf:
        written = zf.read("project.qde").decode("utf-8")

    def raw(xml: str) -> set[tuple[int, int]]:
        out = set()
        for m in re.finditer(r"<PlainTextSelection\b[^>]*>", xml):
            tag = m.group(0)
            out.add((int(re.search(r'startPosition="(\d+)"', tag).group(1)),
                     int(re.search(r'endPosition="(\d+)"', tag).group(1))))
        return out

    assert raw(written) == raw(original)
    again = read_qdpx(out)
    before = {(names[c.source_guid], c.start, c.end, c.code_id) for c in project.codings}
    after_names = {g: s.name for g, s in again.sources.items()}
    after = {(after_names[c.source_guid], c.start, c.end, c.code_id) for c in again.codings}
    assert after == before


def test_codepoint_files_and_split_surrogates(tmp_path):
    """A QualCoder file counts code points; a UTF-16 selection that ends between the halves of
    an emoji keeps the whole emoji."""
    text = "I 😀 it 😀 so much"
    for origin, start, end in (("QualCoder 3.6", 2, 8), ("NVivo 14", 2, 3)):
        qde = (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" '
               f'name="p" origin="{origin}"><CodeBook><Codes><Code guid="c1" name="joy" '
               f'isCodable="true"/></Codes></CodeBook><Sources><TextSource guid="s1" name="a" '
               f'plainTextPath="internal://s1.txt"><PlainTextSelection guid="x1" '
               f'startPosition="{start}" endPosition="{end}"><Coding guid="k1"><CodeRef '
               f'targetGUID="c1"/></Coding></PlainTextSelection></TextSource></Sources></Project>')
        path = tmp_path / "p.qdpx"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("project.qde", qde)
            zf.writestr("sources/s1.txt", text.encode("utf-8"))
        (c,) = read_qdpx(path).codings
        assert text[c.start:c.end] == ("😀 it 😀" if origin.startswith("Q") else "😀"), origin
