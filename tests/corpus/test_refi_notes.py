"""Memos on spans go into a .qdpx as REFI-QDA notes (``<Note>`` under ``<Notes>``, referred to by
a ``<NoteRef>`` on the author's selection), validate against the project schema, and read back."""

import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime

import pytest
import xmlschema

from corpus.errors import PrecodeInputError
from corpus.refi import document_names, read_qdpx
from corpus.refi_update import add_codings
from tests.corpus.test_refi import TEXT_A, TEXT_B, book, sample

Q = "{urn:QDA-XML:project:1.0}"
MADE = datetime(2026, 3, 2, 9, 1, 12, tzinfo=UTC)
CHANGED = datetime(2026, 3, 4, 17, 30, tzinfo=UTC)
NOTES = [
    # on Ana's own coding of "Café"
    {"document": "a.txt", "start": 0, "end": 4, "user": "Ana", "created": MADE,
     "modified": CHANGED, "text": "she means the café\r\nnot the coffee & <food>"},
    # Cleo coded nothing: the note gets a selection of its own
    {"document": "b.txt", "start": 0, "end": 5, "user": "Cleo", "created": MADE,
     "text": "pasted\x0bfrom a form"},
]


def qde(path) -> ET.Element:
    with zipfile.ZipFile(path) as zf:
        return ET.fromstring(zf.read("project.qde"))


def noted_selections(root: ET.Element) -> dict[str, ET.Element]:
    """Note guid -> the selection that refers to it."""
    return {ref.get("targetGUID"): sel for sel in root.iter(f"{Q}PlainTextSelection")
            for ref in sel.iterfind(f"{Q}NoteRef")}


def test_memos_are_notes_on_their_authors_selections(tmp_path):
    root = qde(sample(tmp_path, notes=NOTES))
    users = {u.get("name"): u.get("guid") for u in root.iter(f"{Q}User")}
    assert set(users) == {"Ana", "Ben", "Cleo"}  # Cleo only wrote a memo, and is a user too
    assert [child.tag for child in root][-1] == f"{Q}Notes"  # after <Sources>, as the schema says
    notes = list(root.iterfind(f"{Q}Notes/{Q}Note"))
    assert len(notes) == 2
    cafe, pasted = notes
    assert cafe.findtext(f"{Q}PlainTextContent") == "she means the café\r\nnot the coffee & <food>"
    assert pasted.findtext(f"{Q}PlainTextContent") == "pasted\ufffdfrom a form"
    assert (cafe.get("creatingUser"), cafe.get("modifyingUser")) == (users["Ana"], users["Ana"])
    assert (cafe.get("creationDateTime"), cafe.get("modifiedDateTime")) == (
        "2026-03-02T09:01:12Z", "2026-03-04T17:30:00Z")
    assert pasted.get("modifiedDateTime") == "2026-03-02T09:01:12Z"  # never changed
    assert cafe.get("name") == "Memo by Ana on a.txt 0-4"
    on = noted_selections(root)
    assert set(on) == {cafe.get("guid"), pasted.get("guid")}
    anas = on[cafe.get("guid")]
    assert (anas.get("creatingUser"), anas.get("startPosition"), anas.get("endPosition")) == (
        users["Ana"], "0", "4")
    assert len(anas.findall(f"{Q}Coding")) == 1  # Ana's coding of the span carries the note
    cleos = on[pasted.get("guid")]
    assert cleos.get("creatingUser") == users["Cleo"] and not cleos.findall(f"{Q}Coding")
    assert (cleos.get("startPosition"), cleos.get("endPosition")) == ("0", "5")
    assert cleos.get("creationDateTime") == "2026-03-02T09:01:12Z"


@pytest.mark.reference_data
def test_project_with_notes_validates_against_schema(tmp_path, reference_data):
    schema = xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd"))
    with zipfile.ZipFile(sample(tmp_path, notes=NOTES)) as zf:
        schema.validate(zf.read("project.qde").decode("utf-8"))


def test_notes_on_selections_read_back_as_memos(tmp_path):
    project = read_qdpx(sample(tmp_path, notes=NOTES))
    docs = document_names(project)
    got = [(docs[m.source_guid], m.start, m.end, project.users[m.user_guid], m.text, m.created,
            m.modified) for m in project.memos]
    assert got == [
        ("a.txt", 0, 4, "Ana", "she means the café\r\nnot the coffee & <food>",
         "2026-03-02T09:01:12Z", "2026-03-04T17:30:00Z"),
        ("b.txt", 0, 5, "Cleo", "pasted\ufffdfrom a form", "2026-03-02T09:01:12Z",
         "2026-03-02T09:01:12Z")]
    # the codings are as they were, and a selection that only carries a note is not "uncoded"
    assert len(project.codings) == len(read_qdpx(sample(tmp_path / "plain")).codings)
    assert not any("carry no code" in n for n in project.notes)


def test_a_note_reference_without_its_note_is_left_out_with_a_remark(tmp_path):
    path = sample(tmp_path, notes=NOTES[:1])
    with zipfile.ZipFile(path) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    text = files["project.qde"].decode("utf-8")
    start = text.index("<Notes>")
    files["project.qde"] = (text[:start] + text[text.index("</Notes>") + len("</Notes>"):]
                            ).encode("utf-8")
    broken = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(broken, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    project = read_qdpx(broken)
    assert project.memos == [] and project.codings
    assert any("<NoteRef>" in n for n in project.notes)


@pytest.mark.parametrize(("change", "field"), [
    ({"document": "c.txt"}, "notes[0]"), ({"user": " "}, "notes[0]"),
    ({"end": len(TEXT_B) + 1, "document": "b.txt"}, "notes[0]"), ({"text": None}, "notes[0]")])
def test_bad_notes_are_refused_naming_the_note(tmp_path, change, field):
    with pytest.raises(PrecodeInputError) as err:
        sample(tmp_path, notes=[{**NOTES[0], **change}])
    assert err.value.field == field


@pytest.mark.reference_data
def test_notes_added_to_an_existing_project(tmp_path, reference_data):
    """A project that already has notes gets more: one <Notes>, the new note on the selection
    added for its author, or on one of its own."""
    src = sample(tmp_path, notes=NOTES[:1])
    out = add_codings(src, tmp_path / "more.qdpx", [
        {"document": "a.txt", "start": 5, "end": 13, "codes": ["t.food"], "user": "Dee",
         "created": MADE}], codebook=book(), user="precode model", notes=[
        {"document": "a.txt", "start": 5, "end": 13, "user": "Dee", "text": "quoted on purpose",
         "created": MADE, "modified": CHANGED},
        {"document": "b.txt", "start": 6, "end": 10, "user": "Ana", "text": "plain\x01",
         "created": MADE}])
    with zipfile.ZipFile(out) as zf:
        xml = zf.read("project.qde").decode("utf-8")
    xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd")).validate(xml)
    root = ET.fromstring(xml)
    assert len(root.findall(f"{Q}Notes")) == 1
    project = read_qdpx(out)
    docs = document_names(project)
    assert [(docs[m.source_guid], m.start, m.end, project.users[m.user_guid], m.text)
            for m in project.memos] == [
        ("a.txt", 0, 4, "Ana", NOTES[0]["text"]),
        ("a.txt", 5, 13, "Dee", "quoted on purpose"),
        ("b.txt", 6, 10, "Ana", "plain\ufffd")]
    dees = next(m for m in project.memos if m.text == "quoted on purpose")
    assert [c.code_id for c in project.codings if c.selection_guid == dees.selection_guid] == [
        "t.food"]  # on Dee's coding added with it
    assert TEXT_A[5:13] == "“quoted”"
