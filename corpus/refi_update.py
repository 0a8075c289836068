"""Adding codings to an existing REFI-QDA project (.qdpx) without losing anything it holds.

The project file is changed, not rebuilt: every element and attribute the program wrote (users,
codes, sources, selections, codings, variables, cases, notes, links, sets, graphs) stays with its
GUID, and every other file in the archive (texts, .docx, media) is copied byte for byte. What is
added: one user (the model), the codes it uses that the project lacks, one
``<PlainTextSelection>`` per coding, under that user, and memos as ``<Note>``s that the
selections refer to. Positions are written in the unit the
project's program counts (:mod:`corpus.positions`), so the program that wrote the file reads the
new codings where they belong.
"""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from corpus.codebook import Codebook, description_of
from corpus.errors import PrecodeInputError
from corpus.positions import TextPositions
from corpus.refi import (
    MAX_UNCOMPRESSED,
    NS,
    _Archive,
    _xml_chars,
    document_names,
    norm_guid,
    read_qdpx,
)
from corpus.xmlsafe import parse_xml

_Q = f"{{{NS}}}"
_NAMESPACE = uuid.UUID("2f6b0c1e-9f5d-5b8a-a1c4-707265636f64")
# the order of <Project>'s children in the schema, and of <TextSource>'s after the selections
_PROJECT_ORDER = ("Users", "CodeBook", "Variables", "Cases", "Sources", "Notes", "Links", "Sets",
                  "Graphs", "Description", "NoteRef")
_AFTER_SELECTIONS = ("Coding", "NoteRef", "VariableValue")


def _child(parent: ET.Element, name: str) -> ET.Element:
    """``parent``'s ``<name>`` child, created in its schema position when missing."""
    found = parent.find(_Q + name)
    if found is not None:
        return found
    rank = _PROJECT_ORDER.index(name)
    at = len(parent)
    for i, el in enumerate(parent):
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in _PROJECT_ORDER and _PROJECT_ORDER.index(tag) > rank:
            at = i
            break
    el = ET.Element(_Q + name)
    parent.insert(at, el)
    return el


def _namespaces(raw: bytes) -> dict[str, str]:
    """The prefixes the file declares (the file has been parsed safely before)."""
    out: dict[str, str] = {}
    for _, (prefix, uri) in ET.iterparse(io.BytesIO(raw), events=("start-ns",)):
        out.setdefault(prefix, uri)
    return out


def _serialise(root: ET.Element, raw: bytes) -> bytes:
    for prefix, uri in _namespaces(raw).items():
        if prefix and uri != NS:
            ET.register_namespace(prefix, uri)
    ET.register_namespace("", NS)  # the project's elements without a prefix, as programs write them
    # a CR in a text (a note's CR LF line ends) as a reference, or XML parsing turns it into LF
    body = ET.tostring(root, encoding="unicode").replace("\r", "&#13;")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")


def add_codings(src: str | Path, out: str | Path, codings: Iterable[dict], *, codebook: Codebook,
                user: str, created: datetime | None = None,
                max_uncompressed: int = MAX_UNCOMPRESSED, notes: Iterable[dict] = ()) -> Path:
    """Write ``out``: the project ``src`` with ``codings`` added under the user ``user`` (or the
    row's own ``user``: a name; a user of that name in the project is reused, else added).

    ``codings``: dicts with ``document`` (the source's name as :func:`corpus.refi.document_names`
    gives it), ``start`` and ``end`` (code points into the source's text), ``codes`` (ids in
    ``codebook``) and optional ``description`` and ``created`` (a datetime: when the coding was
    made; default ``created``, else now). A code is the project's own when its GUID or its
    name (case ignored, when only one code has it) is there; other codes are added, under their
    parent when the project has it. ``notes``: memos, dicts with ``document``, ``start``,
    ``end``, ``user``, ``text`` and optional ``name``, ``created`` and ``modified``, each added
    as a ``<Note>`` referred to by the author's selection of the span added here, or by a
    selection of its own. Returns ``out``.
    """
    src, out = Path(src), Path(out)
    project = read_qdpx(src, max_uncompressed=max_uncompressed)
    arc = _Archive(src, max_uncompressed)
    try:
        entry = arc.project_entry()
        raw = arc.read(entry)
        members = [(info, None if info.is_dir() or info.filename == entry.filename
                    else arc.read(info)) for info in arc.zf.infolist()]
    finally:
        arc.zf.close()
    root = parse_xml(raw, source=arc.where(entry.filename))
    stamp = (created or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # new GUIDs in the file's own spelling: NVivo writes lower case, ATLAS.ti and MAXQDA upper
    upper = any(ch.isupper() for el in root.iter(f"{_Q}TextSource") for ch in el.get("guid", ""))

    def new_guid(key: str) -> str:
        guid = str(uuid.uuid5(_NAMESPACE, f"{project.name}/{key}"))
        return guid.upper() if upper else guid

    def utc(when: datetime | None) -> str:
        if when is None:
            return stamp
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ")

    # the users
    users = _child(root, "Users")
    user_guids = {(u.get("name") or "").strip(): u.get("guid") for u in users.iterfind(f"{_Q}User")}

    def user_guid(name: str) -> str:
        if name not in user_guids:
            user_guids[name] = new_guid(f"user/{name}")
            ET.SubElement(users, _Q + "User", {"guid": user_guids[name], "name": name})
        return user_guids[name]

    # the codes
    codes_el = _child(_child(root, "CodeBook"), "Codes")
    by_guid = {norm_guid(el.get("guid")): el for el in codes_el.iter(f"{_Q}Code")}
    by_name: dict[str, list[ET.Element]] = {}
    for el in by_guid.values():
        by_name.setdefault((el.get("name") or "").strip().casefold(), []).append(el)
    resolved: dict[str, str] = {}

    def code_guid(code_id: str) -> str:
        if code_id in resolved:
            return resolved[code_id]
        code = codebook[code_id]
        for guid in (code.guid, codebook.guid_of(code_id)):
            if guid and norm_guid(guid) in by_guid:
                resolved[code_id] = by_guid[norm_guid(guid)].get("guid")
                return resolved[code_id]
        named = by_name.get(code.label.strip().casefold(), [])
        if len(named) == 1:
            resolved[code_id] = named[0].get("guid")
            return resolved[code_id]
        parent = codes_el if code.parent is None else by_guid[norm_guid(code_guid(code.parent))]
        guid = codebook.guid_of(code_id)
        guid = guid.upper() if upper else guid
        el = ET.SubElement(parent, _Q + "Code", {"guid": guid, "name": code.label,
                                                 "isCodable": "true" if code.codable else "false"})
        ET.SubElement(el, _Q + "Description").text = description_of(code)
        by_guid[norm_guid(guid)] = el
        resolved[code_id] = guid
        return guid

    # the selections
    names = {name: guid for guid, name in document_names(project).items()}
    elements = {norm_guid(el.get("guid")): el for el in root.iter(f"{_Q}TextSource")}
    positions: dict[str, TextPositions] = {}
    added: dict[tuple[str, int, int, str], ET.Element] = {}  # (source, span, user) -> selection

    def span_of(row: dict, where: str) -> tuple[str, str, int, int]:
        guid = names.get(row.get("document"))
        if guid is None:
            raise PrecodeInputError(f"no source {row.get('document')!r} in the project",
                                    source=str(src), field=where)
        text = project.sources[guid].text or ""
        start, end = row.get("start"), row.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise PrecodeInputError(f"bad span {start!r}-{end!r} (the source has {len(text)} "
                                    "characters)", source=str(src), field=where)
        return guid, text, start, end

    def selection(guid: str, text: str, start: int, end: int, who: str, when: str, key: str
                  ) -> ET.Element:
        units = positions.setdefault(guid, TextPositions(text, project.position_unit))
        source_el = elements[guid]
        at = next((k for k, el in enumerate(source_el)
                   if el.tag.rsplit("}", 1)[-1] in _AFTER_SELECTIONS), len(source_el))
        sel = ET.Element(_Q + "PlainTextSelection", {
            "guid": new_guid(key), "name": text[start:end][:60].strip(),
            "startPosition": str(units.to_position(start)),
            "endPosition": str(units.to_position(end)),
            "creatingUser": who, "creationDateTime": when})
        source_el.insert(at, sel)
        return sel

    for i, row in enumerate(codings):
        where = f"codings[{i}]"
        guid, text, start, end = span_of(row, where)
        codes = list(dict.fromkeys(row.get("codes") or []))
        unknown = [c for c in codes if c not in codebook]
        if unknown:
            raise PrecodeInputError(f"unknown code(s) {', '.join(map(str, unknown))}",
                                    source=str(src), field=where)
        if not codes:
            continue
        who = user_guid(str(row.get("user") or user))
        when = utc(row.get("created"))
        sel = selection(guid, text, start, end, who, when,
                        f"selection/{guid}/{start}/{end}/{who}/{i}")
        sel_guid = sel.get("guid")
        added.setdefault((guid, start, end, who), sel)
        if row.get("description"):
            ET.SubElement(sel, _Q + "Description").text = str(row["description"])
        for code in codes:
            coding = ET.SubElement(sel, _Q + "Coding", {
                "guid": new_guid(f"coding/{sel_guid}/{code}"), "creatingUser": who,
                "creationDateTime": when})
            ET.SubElement(coding, _Q + "CodeRef", {"targetGUID": code_guid(code)})

    # the memos: notes the author's selection of the span refers to
    for i, row in enumerate(notes):
        where = f"notes[{i}]"
        guid, text, start, end = span_of(row, where)
        author = row.get("user")
        if not isinstance(author, str) or not author.strip():
            raise PrecodeInputError("missing user name", source=str(src), field=where)
        if not isinstance(row.get("text"), str):
            raise PrecodeInputError("a note needs its text", source=str(src), field=where)
        who = user_guid(author)
        made = utc(row.get("created"))
        sel = added.get((guid, start, end, who))
        if sel is None:
            sel = added[(guid, start, end, who)] = selection(
                guid, text, start, end, who, made, f"note-selection/{guid}/{start}/{end}/{who}")
        note_guid = new_guid(f"note/{sel.get('guid')}/{i}")
        name = row.get("name") or f"Memo by {author} on {row['document']} {start}-{end}"
        note = ET.SubElement(_child(root, "Notes"), _Q + "Note", {
            "guid": note_guid, "name": _xml_chars(str(name)), "creatingUser": who,
            "creationDateTime": made, "modifyingUser": who,
            "modifiedDateTime": utc(row.get("modified")) if row.get("modified") else made})
        ET.SubElement(note, _Q + "PlainTextContent").text = _xml_chars(row["text"])
        ET.SubElement(sel, _Q + "NoteRef", {"targetGUID": note_guid})

    data = _serialise(root, raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for old, content in members:  # in the archive's order, under the same names
                info = zipfile.ZipInfo(old.filename, date_time=old.date_time)
                info.external_attr, info.create_system = old.external_attr, old.create_system
                if old.is_dir():
                    zf.writestr(info, b"")
                elif content is None:  # the project file
                    zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
                else:
                    zf.writestr(info, content, compress_type=old.compress_type)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
