"""Memos on segments travel with the .qdpx export: each a REFI-QDA ``<Note>`` (its author a
``<User>``, its real dates) that its author's selection of the segment refers to with a
``<NoteRef>``, in a file that validates against the REFI-QDA project schema, and that precode
reads back -- also for a project uploaded as a .qdpx, which is exported whole."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from datetime import datetime

import pytest

from corpus.refi import document_names, read_qdpx
from tests.service.conftest import TRANSCRIPT, api_for, new_project, precode

Q = "{urn:QDA-XML:project:1.0}"


def stamp(when: str) -> str:
    """An API timestamp as the .qdpx writes it (UTC, whole seconds)."""
    return datetime.fromisoformat(when.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%SZ")


def qde(content: bytes) -> ET.Element:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return ET.fromstring(zf.read("project.qde"))


def notes_of(root: ET.Element) -> list[dict]:
    """Each note with its author's name and the selection that refers to it."""
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{Q}User")}
    on = {ref.get("targetGUID"): sel for sel in root.iter(f"{Q}PlainTextSelection")
          for ref in sel.iterfind(f"{Q}NoteRef")}
    out = []
    for note in root.iterfind(f"{Q}Notes/{Q}Note"):
        sel = on[note.get("guid")]  # every note hangs on a selection
        out.append({"text": note.findtext(f"{Q}PlainTextContent"),
                    "author": users[note.get("creatingUser")],
                    "created": note.get("creationDateTime"),
                    "modified": note.get("modifiedDateTime"),
                    "selection_user": users[sel.get("creatingUser")],
                    "start": int(sel.get("startPosition")), "end": int(sel.get("endPosition")),
                    "codes": len(sel.findall(f"{Q}Coding"))})
    return out


@pytest.fixture(scope="module")
def memoed(app, owner):
    """A pre-coded transcript; ana accepts a suggestion and writes a memo on its segment and one
    on a segment she did not code; ben writes a memo on the first segment."""
    pid = new_project(owner, codebook="npt,integrating")
    assert owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).status_code == 201
    precode(owner, pid)
    ana, ben = api_for(app, "ana"), api_for(app, "ben")
    for api in (ana, ben):
        assert owner.post(f"/v1/projects/{pid}/members",
                          json={"user": api.name, "role": "coder"}).status_code == 200
    pending = ana.get(f"/v1/projects/{pid}/suggestions",
                      params={"limit": 500, "status": "pending", "order": "position"}).json()
    target = next(s for s in pending["items"] if not s["implies"])
    res = ana.post(f"/v1/projects/{pid}/suggestions/{target['id']}/review",
                   json={"action": "accept"})
    assert res.status_code == 200, res.text
    coded = target["segment"]
    [doc] = owner.get(f"/v1/projects/{pid}/documents").json()
    other = next(s for s in owner.get(f"/v1/projects/{pid}/documents/{doc['id']}/segments").json()
                 if s["id"] != coded["id"] and not s["is_interviewer"])

    def memo(api, segment, text):
        res = api.post(f"/v1/projects/{pid}/segments/{segment['id']}/memos", json={"text": text})
        assert res.status_code == 201, res.text
        return res.json()

    first = memo(ana, coded, "quoting her manager")
    changed = ana.patch(f"/v1/projects/{pid}/memos/{first['id']}",
                        json={"text": "quoting her manager,\r\nnot her own view & <sic>"})
    assert changed.status_code == 200, changed.text
    return {"pid": pid, "ana": ana, "ben": ben, "coded": coded, "other": other,
            "memos": [changed.json(), memo(ana, other, "off topic\x0bbut telling"),
                      memo(ben, coded, "team talk")]}


def test_memos_are_notes_on_the_authors_selections(memoed, owner):
    res = owner.get(f"/v1/projects/{memoed['pid']}/export.qdpx")
    assert res.status_code == 200, res.text
    got = notes_of(qde(res.content))
    ana, ben, coded, other = memoed["ana"].name, memoed["ben"].name, memoed["coded"], \
        memoed["other"]
    first, second, third = memoed["memos"]
    assert got == [
        # on ana's own coding of the segment
        {"text": "quoting her manager,\r\nnot her own view & <sic>", "author": ana,
         "created": stamp(first["created_at"]), "modified": stamp(first["updated_at"]),
         "selection_user": ana, "start": coded["start"], "end": coded["end"], "codes": 1},
        # ana coded nothing there: a selection of her own, without codes (the control
        # character, which XML cannot hold, is replaced)
        {"text": "off topic\ufffdbut telling", "author": ana,
         "created": stamp(second["created_at"]), "modified": stamp(second["updated_at"]),
         "selection_user": ana, "start": other["start"], "end": other["end"], "codes": 0},
        {"text": "team talk", "author": ben, "created": stamp(third["created_at"]),
         "modified": stamp(third["updated_at"]), "selection_user": ben,
         "start": coded["start"], "end": coded["end"], "codes": 0}]


def test_a_coders_export_holds_their_own_memos(memoed, owner):
    ana = memoed["ana"].name
    res = owner.get(f"/v1/projects/{memoed['pid']}/export.qdpx", params={"coder": ana})
    assert res.status_code == 200, res.text
    assert [(n["author"], n["text"]) for n in notes_of(qde(res.content))] == [
        (ana, "quoting her manager,\r\nnot her own view & <sic>"),
        (ana, "off topic\ufffdbut telling")]  # not ben's
    # the consensus is nobody's own: its export carries no one's memos
    res = owner.get(f"/v1/projects/{memoed['pid']}/export.qdpx", params={"consensus": "true"})
    assert res.status_code == 200, res.text
    assert notes_of(qde(res.content)) == []


@pytest.mark.reference_data
def test_export_with_memos_validates_against_the_refi_schema(memoed, owner, reference_data):
    import xmlschema

    schema = xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd"))
    for params in ({}, {"coder": memoed["ana"].name}, {"consensus": "true", "model": "true"}):
        res = owner.get(f"/v1/projects/{memoed['pid']}/export.qdpx", params=params)
        with zipfile.ZipFile(io.BytesIO(res.content)) as zf:
            schema.validate(zf.read("project.qde").decode("utf-8"))


@pytest.mark.reference_data
def test_memos_come_back_from_the_export_and_travel_on(memoed, owner, tmp_path, reference_data):
    """The export reads back with its memos; uploaded to another project it is taken in, and
    that project's export (the uploaded file, whole) keeps them and adds the new ones."""
    import xmlschema

    content = owner.get(f"/v1/projects/{memoed['pid']}/export.qdpx").content
    path = tmp_path / "memos.qdpx"
    path.write_bytes(content)
    project = read_qdpx(path)
    assert [(document_names(project)[m.source_guid], m.start, m.end, project.users[m.user_guid])
            for m in project.memos] == [
        ("falls.txt", memoed["coded"]["start"], memoed["coded"]["end"], memoed["ana"].name),
        ("falls.txt", memoed["other"]["start"], memoed["other"]["end"], memoed["ana"].name),
        ("falls.txt", memoed["coded"]["start"], memoed["coded"]["end"], memoed["ben"].name)]

    pid = new_project(owner, codebook="npt,integrating")
    res = owner.upload(pid, "memos.qdpx", content)
    assert res.status_code == 201, res.text
    [doc] = res.json()["documents"]
    segment = next(s for s in owner.get(f"/v1/projects/{pid}/documents/{doc['id']}/segments")
                   .json() if not s["is_interviewer"])
    res = owner.post(f"/v1/projects/{pid}/segments/{segment['id']}/memos",
                     json={"text": "read again after the audit"})
    assert res.status_code == 201, res.text
    again = owner.get(f"/v1/projects/{pid}/export.qdpx")
    assert again.status_code == 200, again.text
    with zipfile.ZipFile(io.BytesIO(again.content)) as zf:
        xml = zf.read("project.qde").decode("utf-8")
    xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd")).validate(xml)
    got = notes_of(ET.fromstring(xml))
    assert [n["text"] for n in got] == [
        "quoting her manager,\r\nnot her own view & <sic>", "off topic\ufffdbut telling",
        "team talk", "read again after the audit"]
    assert (got[-1]["author"], got[-1]["start"], got[-1]["end"]) == (
        owner.name, segment["start"], segment["end"])
