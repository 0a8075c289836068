"""Adding codings to a real NVivo or MAXQDA project keeps everything the project had."""

import zipfile
from xml.etree import ElementTree as ET

import pytest
import xmlschema

from corpus.codebook_files import load_codebooks
from corpus.positions import TextPositions
from corpus.refi import coder_name, document_names, read_qdpx
from corpus.refi_update import add_codings

pytestmark = pytest.mark.reference_data
EXPORTS = ["nvivo_win_12.6/oltas0517.qdpx", "nvivo_mac_12.7/OltasSzkepticizmus_17June.qdpx",
           "maxqda_24/ICLS_Conf_Themes_ALL_just10_MAXQDA24.qdpx"]
MODEL = "precode model"


@pytest.fixture(scope="module")
def npt():
    return load_codebooks("npt")


def _codings(project, book) -> list[dict]:
    """Two codings per source: one around its first emoji (if any), one on its first words."""
    codes = [c.id for c in book if c.codable]
    out = []
    for guid, name in document_names(project).items():
        text = project.sources[guid].text
        at = text.find("😀")
        if at > 5:
            out.append({"document": name, "start": at - 4, "end": at + 6, "codes": codes[1:3],
                        "description": "suggested"})
        out.append({"document": name, "start": 0, "end": min(30, len(text)), "codes": [codes[0]]})
    return out


def _elements(xml: bytes) -> dict[str, tuple[str, dict]]:
    root = ET.fromstring(xml)
    return {el.get("guid"): (el.tag, dict(el.attrib)) for el in root.iter() if el.get("guid")}


def _all(project) -> set[tuple]:
    names = document_names(project)
    return {(names[c.source_guid], c.start, c.end, project.codebook[c.code_id].label,
             coder_name(project, c.user_guid)) for c in project.codings}


@pytest.mark.parametrize("export", EXPORTS)
def test_added_codings_keep_the_whole_project(reference_data, tmp_path, npt, export):
    src = reference_data / "refi_exports" / export
    before = read_qdpx(src)
    rows = _codings(before, npt)
    out = add_codings(src, tmp_path / "precoded.qdpx", rows, codebook=npt, user=MODEL)

    with zipfile.ZipFile(src) as old, zipfile.ZipFile(out) as new:
        assert old.namelist() == new.namelist()  # same files, same order
        qde = next(n for n in old.namelist() if n.endswith(".qde"))
        for name in old.namelist():
            if name != qde:
                assert old.read(name) == new.read(name), name  # texts, .docx: byte for byte
        old_xml, new_xml = old.read(qde), new.read(qde)
    kept = _elements(new_xml)
    for guid, element in _elements(old_xml).items():  # every user, code, source, selection, set
        assert kept.get(guid) == element, guid
    old_root, new_root = ET.fromstring(old_xml), ET.fromstring(new_xml)
    for tag in ("Set", "MemberCode", "MemberSource", "Note", "NoteRef", "VariableValue"):
        ns = "{urn:QDA-XML:project:1.0}"
        assert len(list(new_root.iter(ns + tag))) == len(list(old_root.iter(ns + tag))), tag
    xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd")).validate(
        new_xml.decode("utf-8"))

    after = read_qdpx(out)
    assert after.origin == before.origin  # still the program's file, read with its positions
    assert set(after.users.values()) == set(before.users.values()) | {MODEL}
    added = _all(after) - _all(before)
    assert _all(before) <= _all(after)  # every coding on its text, under its user and code
    assert len(added) == sum(len(r["codes"]) for r in rows)
    want = {(r["document"], r["start"], r["end"], npt[c].label, MODEL) for r in rows
            for c in r["codes"]}
    assert added == want  # the new ones where they were put, under the model


def test_new_positions_count_utf16_units_in_nvivo_projects(reference_data, tmp_path, npt):
    src = reference_data / "refi_exports" / "nvivo_win_12.6/oltas0517.qdpx"
    project = read_qdpx(src)
    rows = [r for r in _codings(project, npt) if "description" in r]  # those after an emoji
    out = add_codings(src, tmp_path / "p.qdpx", rows, codebook=npt, user=MODEL)
    with zipfile.ZipFile(out) as zf:
        root = ET.fromstring(zf.read("project.qde"))
    users = {u.get("name"): u.get("guid") for u in root.iter("{urn:QDA-XML:project:1.0}User")}
    ours = [s for s in root.iter("{urn:QDA-XML:project:1.0}PlainTextSelection")
            if s.get("creatingUser") == users[MODEL]]
    assert ours and len(ours) == len(rows)
    texts = {name: project.sources[g].text for g, name in document_names(project).items()}
    raw_spans = {(int(s.get("startPosition")), int(s.get("endPosition"))) for s in ours}
    for row in rows:
        text = texts[row["document"]]
        units = TextPositions(text)  # NVivo's count: UTF-16 units after the BOM, CR LF as two
        a, b = units.to_position(row["start"]), units.to_position(row["end"])
        assert (a, b) in raw_spans and a > row["start"]  # emoji before it count twice
        raw = text.encode("utf-16-le")
        assert raw[2 * a:2 * b].decode("utf-16-le") == text[row["start"]:row["end"]]


def test_import_export_import_gives_the_same_project(reference_data, tmp_path, npt):
    for export in EXPORTS[:2]:
        src = reference_data / "refi_exports" / export
        once = add_codings(src, tmp_path / "once.qdpx", [], codebook=npt, user=MODEL)
        a, b = read_qdpx(src), read_qdpx(once)
        assert _all(a) == _all(b)
        assert [(c.id, c.label, c.parent, c.definition) for c in a.codebook] == \
               [(c.id, c.label, c.parent, c.definition) for c in b.codebook]
        assert {g: (s.name, s.text) for g, s in a.sources.items()} == \
               {g: (s.name, s.text) for g, s in b.sources.items()}


def test_unknown_source_is_named(reference_data, tmp_path, npt):
    from corpus.errors import PrecodeInputError

    src = reference_data / "refi_exports" / EXPORTS[0]
    with pytest.raises(PrecodeInputError, match=r"codings\[0\].*no source 'nope'"):
        add_codings(src, tmp_path / "x.qdpx", [{"document": "nope", "start": 0, "end": 3,
                                                "codes": ["npt"]}], codebook=npt, user=MODEL)
    assert not (tmp_path / "x.qdpx").exists()


def test_codes_the_project_has_are_reused(tmp_path, reference_data):
    """Codes the project already has (by GUID, or by name) are not added again."""
    src = reference_data / "refi_exports" / EXPORTS[0]
    project = read_qdpx(src)
    book = project.codebook
    leaf = next(c for c in book if not book.children(c.id))
    name = next(iter(document_names(project).values()))
    out = add_codings(src, tmp_path / "p.qdpx", [{"document": name, "start": 0, "end": 10,
                                                  "codes": [leaf.id]}], codebook=book, user=MODEL)
    again = read_qdpx(out)
    assert len(again.codebook) == len(book)
    (ours,) = [c for c in again.codings if coder_name(again, c.user_guid) == MODEL]
    assert again.codebook[ours.code_id].label == leaf.label

