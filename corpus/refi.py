"""REFI-QDA project exchange (.qdpx): read codebook, users, text sources and codings; write them.

A .qdpx is a zip holding ``project.qde`` (XML, namespace ``urn:QDA-XML:project:1.0``) and the
source files under ``sources/``. A source's text is kept exactly as its file has it, less a
byte-order mark (CR LF line ends stay). In the file, selection offsets (``startPosition``/
``endPosition``) count characters the way the writing program does (UTF-16 code units for NVivo,
ATLAS.ti and MAXQDA, code points for QualCoder: :mod:`corpus.positions` says why); in
:class:`Coding` they are Python string indices (code points) into :attr:`Source.text`. precode
writes UTF-16 code units, as NVivo reads them.

Reading is defensive: entries escaping the archive, archives larger than ``max_uncompressed``
once unpacked, XML with entities or external references and non-zip files are refused with a
:class:`~corpus.errors.PrecodeInputError` naming the file (``archive!entry`` for an entry).
Only plain-text sources (``<TextSource>``) are read; PDF, picture, audio and video sources are
skipped and counted in :attr:`QdaProject.notes`. A note (memo) a selection refers to with
``<NoteRef>`` is read into :attr:`QdaProject.memos`; notes on the project, sources or codes are
left in the file.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from corpus.codebook import Codebook, code_elements, codes_from_refi
from corpus.errors import CodebookError, PrecodeInputError
from corpus.excerpts import Excerpt
from corpus.positions import PRECODE_ORIGIN, UNITS, UTF16, TextPositions, position_unit
from corpus.transcripts import media_clock
from corpus.xmlsafe import parse_xml

NS = "urn:QDA-XML:project:1.0"
GUID_NAMESPACE = uuid.UUID("9b0f3c52-4a1e-5d7a-8c3e-707265636f64")  # stable GUIDs for written files
MAX_UNCOMPRESSED = 500 * 2**20
DEFAULT_CREATED = datetime(2020, 1, 1, tzinfo=UTC)  # fixed, so the same input gives the same bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 16


@dataclass
class Source:
    guid: str
    name: str
    text: str | None  # None: the text file is missing (only with ``require_text=False``)


@dataclass
class Coding:
    """One code applied by one user to ``text[start:end]`` of a source (GUIDs normalised)."""

    source_guid: str
    start: int
    end: int
    code_id: str
    user_guid: str | None
    selection_guid: str
    description: str = ""
    selection_name: str = ""  # ATLAS.ti puts the (possibly shortened) quoted text here


@dataclass
class SelectionNote:
    """A ``<Note>`` a selection refers to (a memo on ``text[start:end]``; GUIDs normalised)."""

    source_guid: str
    start: int
    end: int
    selection_guid: str
    guid: str
    name: str
    text: str
    user_guid: str | None
    created: str = ""  # the note's creationDateTime as the file has it
    modified: str = ""


@dataclass
class QdaProject:
    name: str
    codebook: Codebook | None  # None for a project without codes
    users: dict[str, str]  # normalised guid -> unique name
    sources: dict[str, Source]  # normalised guid -> text source
    codings: list[Coding]
    skipped_empty: int = 0  # zero-length selections left out
    notes: list[str] = field(default_factory=list)
    origin: str = ""  # the program that wrote the file, as its ``origin`` attribute says
    position_unit: str = UTF16  # how the file counts positions (see corpus.positions)
    memos: list[SelectionNote] = field(default_factory=list)  # notes on selections


def norm_guid(guid: str | None) -> str:
    """GUIDs compare without braces and case: ``{AB-..}`` and ``ab-..`` are the same."""
    return (guid or "").strip().strip("{}").strip().lower()


def _nfc(name: str | None) -> str:
    """Names (not texts) in NFC: macOS exports may spell ``ê`` as ``e`` + combining accent."""
    return unicodedata.normalize("NFC", (name or "").strip())


def _tag(el) -> str:
    return el.tag.rsplit("}", 1)[-1]


# ---- the archive ------------------------------------------------------------------------------
class _Archive:
    """A zip checked for unsafe entry names and size before anything is read from it."""

    def __init__(self, path: Path, limit: int):
        self.src = str(path)
        try:
            self.zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise PrecodeInputError("not a REFI-QDA project: not a zip archive", source=self.src
                                    ) from None
        except OSError as exc:
            raise PrecodeInputError(f"cannot read: {exc.strerror or exc}", source=self.src
                                    ) from None
        infos = self.zf.infolist()
        for info in infos:
            name = info.filename
            parts = re.split(r"[/\\]", name)
            if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                self.zf.close()
                raise PrecodeInputError(f"refused unsafe archive: entry {name!r} points outside "
                                        "the project folder", source=self.src)
        declared = sum(i.file_size for i in infos)
        if declared > limit:
            self.zf.close()
            raise PrecodeInputError(f"refused archive: {declared:,} bytes uncompressed, over the "
                                    f"limit of {limit:,}", source=self.src)
        self.left = limit
        self.files = {i.filename: i for i in infos if not i.is_dir()}
        self.lower = {n.lower(): i for n, i in self.files.items()}

    def where(self, name: str) -> str:
        return f"{self.src}!{name}"

    def find(self, name: str) -> zipfile.ZipInfo | None:
        return self.files.get(name) or self.lower.get(name.lower())

    def read(self, info: zipfile.ZipInfo) -> bytes:
        chunks = []
        try:
            with self.zf.open(info) as fh:
                while chunk := fh.read(_CHUNK):
                    self.left -= len(chunk)
                    if self.left < 0:
                        raise PrecodeInputError("refused archive: more data than the limit on "
                                                "uncompressed size", source=self.where(info.filename))
                    chunks.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            raise PrecodeInputError(f"corrupt or unreadable entry ({exc})",
                                    source=self.where(info.filename)) from None
        return b"".join(chunks)

    def project_entry(self) -> zipfile.ZipInfo:
        top = [i for n, i in self.files.items() if "/" not in n and n.lower().endswith(".qde")]
        exact = [i for i in top if i.filename.lower() == "project.qde"]
        if len(exact) == 1 or len(top) == 1:
            return (exact or top)[0]
        if not top:
            raise PrecodeInputError("not a REFI-QDA project: no project.qde in the archive",
                                    source=self.src)
        raise PrecodeInputError(f"several project files: {', '.join(i.filename for i in top)}",
                                source=self.src)


# ---- reading ----------------------------------------------------------------------------------
def read_qdpx(path: str | Path, *, max_uncompressed: int = MAX_UNCOMPRESSED,
              require_text: bool = True, positions: str | None = None) -> QdaProject:
    """Read a .qdpx project. A text source whose file is missing is an error naming the source,
    unless ``require_text=False`` (its ``text`` is then ``None``, its codings keep the file's
    positions, and a note says so). ``positions`` (``"utf16"`` or ``"codepoint"``) overrides the
    unit chosen from the file's ``origin``."""
    path = Path(path)
    if positions is not None and positions not in UNITS:
        raise PrecodeInputError(f"unknown position unit {positions!r} (use {' or '.join(UNITS)})",
                                field="positions")
    arc = _Archive(path, max_uncompressed)
    try:
        return _read_project(path, arc, require_text, positions)
    finally:
        arc.zf.close()


def _read_project(path: Path, arc: _Archive, require_text: bool,
                  positions: str | None = None) -> QdaProject:
    entry = arc.project_entry()
    src = arc.where(entry.filename)
    root = parse_xml(arc.read(entry), source=src)
    if _tag(root) != "Project" or not root.tag.startswith(f"{{{NS}}}"):
        raise PrecodeInputError(f"root element is {root.tag}, not <Project> in {NS}", source=src)
    q = f"{{{NS}}}"
    notes: list[str] = []
    origin = root.get("origin") or ""
    unit = positions or position_unit(origin)
    unit_name = "UTF-16 code units" if unit == UTF16 else "characters"

    codebook = None
    codes_el = root.find(f"{q}CodeBook/{q}Codes")
    if codes_el is not None and len(codes_el):
        codes = codes_from_refi(codes_el, ns=NS, src=src)
        undefined = [c for c in codes if c.codable and not c.definition.strip()]
        for code in undefined:
            code.definition = code.label
        if undefined:
            notes.append(f"{len(undefined)} code(s) without a description use their name as "
                         f"definition: {', '.join(c.label for c in undefined)}")
        codebook = Codebook.from_codes(codes, id=path.stem, label=root.get("name") or path.stem,
                                       source=src)
    code_ids = {norm_guid(c.guid): c.id for c in codebook} if codebook else {}

    users: dict[str, str] = {}
    for user in root.iterfind(f"{q}Users/{q}User"):
        guid = norm_guid(user.get("guid"))
        name = _nfc(user.get("name")) or guid
        if name in users.values():
            name = f"{name} ({guid[:8]})"
        users[guid] = name

    project_notes = {norm_guid(n.get("guid")): n for n in root.iterfind(f"{q}Notes/{q}Note")}
    memos: list[SelectionNote] = []
    missing_notes = 0
    sources: dict[str, Source] = {}
    codings: list[Coding] = []
    skipped_empty = uncoded = 0
    other_kinds: dict[str, int] = {}
    for el in root.iterfind(f"{q}Sources/*"):
        if _tag(el) != "TextSource":
            other_kinds[_tag(el)] = other_kinds.get(_tag(el), 0) + 1
            continue
        guid = norm_guid(el.get("guid"))
        name = _nfc(el.get("name")) or guid
        text = _source_text(el, arc, name, require_text, notes)
        sources[guid] = Source(guid=guid, name=name, text=text)
        index = TextPositions(text, unit) if text is not None else None
        for sel in el.iterfind(f"{q}PlainTextSelection"):
            sel_guid = norm_guid(sel.get("guid"))
            where = f"{name} [selection {sel.get('guid')}]"
            start, end = _position(sel, "startPosition", src, where), _position(
                sel, "endPosition", src, where)
            if end < start:
                raise PrecodeInputError(f"{where}: endPosition {end} is before startPosition "
                                        f"{start}", source=src)
            if index is not None:
                if end > index.length:
                    raise PrecodeInputError(f"{where}: endPosition {end} is past the end of the "
                                            f"text ({index.length} {unit_name})", source=src)
                start, end = index.to_index(start), index.to_index(end, end=True)
            if start == end:
                skipped_empty += 1
                continue
            desc = (sel.findtext(f"{q}Description") or "").strip()
            found = _codings(sel, q, code_ids, src, where)
            noted = 0
            for ref in sel.iterfind(f"{q}NoteRef"):
                note = project_notes.get(norm_guid(ref.get("targetGUID")))
                if note is None:
                    missing_notes += 1
                    continue
                noted += 1
                memos.append(SelectionNote(
                    guid, start, end, sel_guid, norm_guid(note.get("guid")),
                    _nfc(note.get("name")), _note_text(note, arc, notes),
                    norm_guid(note.get("creatingUser")) or None,
                    note.get("creationDateTime") or "", note.get("modifiedDateTime") or ""))
            uncoded += not found and not noted
            for code_id, user in found:
                codings.append(Coding(guid, start, end, code_id,
                                      user or norm_guid(sel.get("creatingUser")) or None, sel_guid,
                                      desc, sel.get("name") or ""))
        for code_id, user in _codings(el, q, code_ids, src, name):  # whole-document codings
            if text is None:
                notes.append(f"{name}: a whole-document coding was skipped (no text)")
                continue
            codings.append(Coding(guid, 0, len(text), code_id, user or None, guid))

    for c in [*codings, *memos]:
        if c.user_guid and c.user_guid not in users:
            users[c.user_guid] = c.user_guid
            notes.append(f"user {c.user_guid} is not listed under <Users>; named by its GUID")
    if missing_notes:
        notes.append(f"{missing_notes} <NoteRef>(s) of selections name no note under <Notes>; "
                     "left out")
    if skipped_empty:
        notes.append(f"skipped {skipped_empty} zero-length selection(s)")
    if uncoded:
        notes.append(f"{uncoded} selection(s) carry no code and are left out")
    if other_kinds:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(other_kinds.items()))
        notes.append(f"skipped non-text sources: {kinds}")
    return QdaProject(name=root.get("name") or path.stem, codebook=codebook, users=users,
                      sources=sources, codings=codings, skipped_empty=skipped_empty, notes=notes,
                      origin=origin, position_unit=unit, memos=memos)


def _position(sel, attr: str, src: str, where: str) -> int:
    value = sel.get(attr)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PrecodeInputError(f"{where}: {attr} must be a whole number, not {value!r}",
                                source=src) from None
    if number < 0:
        raise PrecodeInputError(f"{where}: {attr} is negative", source=src)
    return number


def _codings(el, q: str, code_ids: dict[str, str], src: str, where: str
             ) -> list[tuple[str, str]]:
    """(code id, normalised user guid) for each <Coding> directly under ``el``."""
    out = []
    for coding in el.iterfind(f"{q}Coding"):
        ref = coding.find(f"{q}CodeRef")
        target = norm_guid(ref.get("targetGUID") if ref is not None else None)
        if target not in code_ids:
            raise PrecodeInputError(f"{where}: <Coding> refers to code {target or '(none)'!r}, "
                                    "which is not in the codebook", source=src)
        out.append((code_ids[target], norm_guid(coding.get("creatingUser"))))
    return out


def _source_text(el, arc: _Archive, name: str, require_text: bool, notes: list[str]) -> str | None:
    inline = el.find(f"{{{NS}}}PlainTextContent")
    if inline is not None:
        return inline.text or ""  # NB: XML parsing turns CRLF into LF here
    ref = (el.get("plainTextPath") or "").strip()
    problem = "has neither plainTextPath nor <PlainTextContent>"
    if ref.startswith("internal://"):
        entry = "sources/" + ref[len("internal://"):]
        info = arc.find(entry)
        if info is not None:
            raw = arc.read(info)
            try:
                return raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise PrecodeInputError(f"text of source {name!r} is not UTF-8 (byte {exc.start})",
                                        source=arc.where(info.filename)) from None
        problem = f"its text file {entry} is missing from the archive"
    elif ref:
        problem = f"its text lies outside the archive ({ref})"
    if require_text:
        raise PrecodeInputError(f"source {name!r}: {problem}", source=arc.src)
    notes.append(f"source {name!r}: {problem}; no text")
    return None


def _note_text(note, arc: _Archive, notes: list[str]) -> str:
    """A note's text: its ``<PlainTextContent>`` or its file in the archive ("" when neither)."""
    name = _nfc(note.get("name")) or norm_guid(note.get("guid"))
    text = _source_text(note, arc, f"note {name}", False, notes)
    return "" if text is None else text


# ---- views for the rest of precode ------------------------------------------------------------
def read_qdpx_codebook(path: str | Path, *, max_uncompressed: int = MAX_UNCOMPRESSED) -> Codebook:
    project = read_qdpx(path, max_uncompressed=max_uncompressed, require_text=False)
    if project.codebook is None:
        raise CodebookError("the project has no codes", source=str(path))
    return project.codebook


def document_names(project: QdaProject) -> dict[str, str]:
    """Source guid -> name, made unique (``name [guid8]``) where two sources share a name."""
    counts: dict[str, int] = {}
    for s in project.sources.values():
        counts[s.name] = counts.get(s.name, 0) + 1
    return {g: s.name if counts[s.name] == 1 else f"{s.name} [{g[:8]}]"
            for g, s in project.sources.items()}


def coder_name(project: QdaProject, user_guid: str | None) -> str:
    """The name of the user who made a coding (their GUID when unlisted, "unknown" when none)."""
    return project.users.get(user_guid or "", user_guid or "unknown")


def users_by_name(project: QdaProject) -> dict[str, str]:
    """User name -> normalised guid."""
    return {name: guid for guid, name in project.users.items()}


def read_qdpx_codings(path: str | Path, *, max_uncompressed: int = MAX_UNCOMPRESSED
                      ) -> dict[str, dict[str, set[str]]]:
    """``{coder name: {"source name:start-end": {code ids}}}`` for the agreement module."""
    project = read_qdpx(path, max_uncompressed=max_uncompressed, require_text=False)
    docs = document_names(project)
    out: dict[str, dict[str, set[str]]] = {}
    for c in project.codings:
        unit = f"{docs[c.source_guid]}:{c.start}-{c.end}"
        out.setdefault(coder_name(project, c.user_guid), {}).setdefault(unit, set()).add(c.code_id)
    return out


def project_excerpts(project: QdaProject, *, coder: str | None = None) -> list[Excerpt]:
    """One excerpt per (source, span, user), with that user's codes on the span merged."""
    if coder is not None and coder not in users_by_name(project):
        known = ", ".join(sorted(project.users.values())) or "none"
        raise PrecodeInputError(f"no user {coder!r} in the project (users: {known})",
                                field="coder")
    docs = document_names(project)
    merged: dict[tuple, list[str]] = {}
    for c in project.codings:
        name = coder_name(project, c.user_guid)
        if coder is None or name == coder:
            codes = merged.setdefault((c.source_guid, c.start, c.end, name), [])
            if c.code_id not in codes:
                codes.append(c.code_id)
    order = {g: i for i, g in enumerate(project.sources)}
    out = []
    for (guid, start, end, name), codes in sorted(merged.items(),
                                                  key=lambda kv: (order[kv[0][0]], *kv[0][1:])):
        text = project.sources[guid].text
        if text is None:
            raise PrecodeInputError(f"source {docs[guid]!r} has no text in the project, so its "
                                    "coded excerpts cannot be cut", field="document")
        out.append(Excerpt(text=text[start:end].replace("\r\n", "\n"), codes=tuple(codes),
                           coder=name,
                           document=docs[guid], start=start, end=end))
    return out


# ---- writing ----------------------------------------------------------------------------------
def _guid(kind: str, key: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, f"{kind}/{key}"))


def _text(value: str) -> str:
    return escape(value, {"\r": "&#13;"})  # keep CR through XML end-of-line normalisation


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_chars(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot hold (control characters other than tab and
    line ends, lone surrogates) as U+FFFD, so typed text never makes the file unreadable."""
    return _NOT_XML.sub("\ufffd", value)


def _media_time(row: dict, src: str, where: str) -> str | None:
    """``HH:MM:SS.mmm-HH:MM:SS.mmm``, the media time of a coding of a subtitle file; None for
    untimed text. A text source has no place for times in the REFI-QDA schema (only an audio or
    video source's transcript has sync points), so they go into the selection's description."""
    start, end = row.get("time_start"), row.get("time_end")
    if start is None and end is None:
        return None
    if not all(isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t < 360_000
               for t in (start, end)) or start > end:
        raise PrecodeInputError(f"bad media time {start!r}-{end!r} (seconds, start before end)",
                                source=src, field=where)
    return f"{media_clock(start)}-{media_clock(end)}"


def _stamp(when: datetime) -> str:
    """An xs:dateTime in UTC (a time without a zone is taken as UTC)."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_qdpx(path: str | Path, *, codebook: Codebook,
               documents: Iterable[tuple[str, str] | tuple[str, str, datetime | None]],
               codings: Iterable[dict], origin: str = PRECODE_ORIGIN,
               created: datetime | None = None, notes: Iterable[dict] = ()) -> Path:
    """Write a .qdpx that validates against the REFI-QDA Project schema.

    ``documents``: (name, full text); ``codings``: dicts with ``document``, ``start``, ``end``
    (code-point offsets, written as UTF-16 code units as NVivo reads them), ``codes`` (code
    ids), ``user`` (name) and optional ``description``; a coding of a subtitle file may carry
    ``time_start``/``time_end`` (seconds), written first in its description
    (``Media time 00:01:02.500-00:01:09.000``).
    ``notes``: memos on spans, dicts with ``document``, ``start``, ``end``, ``user`` (the
    author's name), ``text`` and optional ``name``, ``created`` and ``modified`` (datetimes).
    Each becomes a ``<Note>`` under ``<Notes>`` (its text as ``<PlainTextContent>``), referred
    to by a ``<NoteRef>`` on the author's selection of that span, or on a selection of its own
    (without codes) where the author coded nothing there.
    Same inputs, same bytes: GUIDs are derived from names and ``created`` defaults to a fixed
    time (pass ``datetime.now(UTC)`` to stamp the real time). A document given as (name, text,
    created), a coding and a note with a ``created`` datetime carry their own time.
    """
    path = Path(path)
    src = str(path)
    stamp = _stamp(created or DEFAULT_CREATED)
    docs: dict[str, str] = {}
    doc_stamps: dict[str, str] = {}
    for name, text, *when in documents:
        if name in docs:
            raise PrecodeInputError("duplicate document name", source=src, field=name)
        docs[name] = text
        doc_stamps[name] = _stamp(when[0]) if when and when[0] is not None else stamp

    users: dict[str, str] = {}  # name -> guid
    spans: dict[str, list[tuple[dict, str]]] = {name: [] for name in docs}
    for i, row in enumerate(codings):
        where = f"codings[{i}]"
        doc, user = row.get("document"), row.get("user")
        if doc not in docs:
            raise PrecodeInputError(f"unknown document {doc!r}", source=src, field=where)
        if not isinstance(user, str) or not user.strip():
            raise PrecodeInputError("missing user name", source=src, field=where)
        start, end = row.get("start"), row.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end
                <= len(docs[doc])):
            raise PrecodeInputError(f"bad span {start!r}-{end!r} (document has "
                                    f"{len(docs[doc])} characters)", source=src, field=where)
        unknown = [c for c in row.get("codes") or [] if c not in codebook]
        if unknown:
            raise PrecodeInputError(f"unknown code(s) {', '.join(map(str, unknown))}", source=src,
                                    field=where)
        clock = _media_time(row, src, where)
        if clock is not None:
            row = {**row, "description": "\n".join(
                [f"Media time {clock}", *([str(row["description"])] if row.get("description")
                                          else [])])}
        users.setdefault(user, _guid("user", user))
        spans[doc].append((row, _guid("selection", f"{i}/{doc}/{start}/{end}/{user}")))

    # the notes: each on its author's selection of the span, or on one of its own
    note_lines: list[str] = []
    refs: dict[str, list[str]] = {}  # selection guid -> its notes' guids
    own = {(doc, row["start"], row["end"], row["user"]): sel
           for doc, rows in spans.items() for row, sel in reversed(rows)}
    for i, row in enumerate(notes):
        where = f"notes[{i}]"
        doc, user, start, end = row.get("document"), row.get("user"), row.get("start"), row.get(
            "end")
        if doc not in docs:
            raise PrecodeInputError(f"unknown document {doc!r}", source=src, field=where)
        if not isinstance(user, str) or not user.strip():
            raise PrecodeInputError("missing user name", source=src, field=where)
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end
                <= len(docs[doc])):
            raise PrecodeInputError(f"bad span {start!r}-{end!r} (document has "
                                    f"{len(docs[doc])} characters)", source=src, field=where)
        if not isinstance(row.get("text"), str):
            raise PrecodeInputError("a note needs its text", source=src, field=where)
        guid = users.setdefault(user, _guid("user", user))
        sel = own.get((doc, start, end, user))
        if sel is None:
            sel = _guid("selection", f"note/{doc}/{start}/{end}/{user}")
            own[(doc, start, end, user)] = sel
            spans[doc].append(({"start": start, "end": end, "user": user,
                                "created": row.get("created")}, sel))
        note = _guid("note", f"{i}/{sel}")
        refs.setdefault(sel, []).append(note)
        made = _stamp(row["created"]) if row.get("created") is not None else stamp
        changed = _stamp(row["modified"]) if row.get("modified") is not None else made
        name = row.get("name") or f"Memo by {user} on {doc} {start}-{end}"
        note_lines += [f'  <Note guid="{note}" name={quoteattr(_xml_chars(str(name)))} '
                       f'creatingUser="{guid}" creationDateTime="{made}" '
                       f'modifyingUser="{guid}" modifiedDateTime="{changed}">',
                       f"    <PlainTextContent>{_text(_xml_chars(row['text']))}"
                       "</PlainTextContent>",
                       "  </Note>"]

    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<Project xmlns="{NS}" name={quoteattr(path.stem)} origin={quoteattr(origin)} '
             f'creationDateTime="{stamp}">']
    if users:
        lines.append("<Users>")
        lines += [f'  <User guid="{g}" name={quoteattr(n)}/>' for n, g in users.items()]
        lines.append("</Users>")
    lines += ["<CodeBook>", "<Codes>", *code_elements(codebook), "</Codes>", "</CodeBook>"]
    files: list[tuple[str, bytes]] = []
    if docs:
        lines.append("<Sources>")
    for name, text in docs.items():
        guid = _guid("source", name)
        files.append((f"sources/{guid}.txt", text.encode("utf-8")))
        lines.append(f'  <TextSource guid="{guid}" name={quoteattr(name)} '
                     f'plainTextPath="internal://{guid}.txt" '
                     f'creationDateTime="{doc_stamps[name]}">')
        units = TextPositions(text, UTF16)
        for row, sel in spans[name]:
            user = users[row["user"]]
            when = _stamp(row["created"]) if row.get("created") is not None else stamp
            lines.append(f'    <PlainTextSelection guid="{sel}" '
                         f'startPosition="{units.to_position(row["start"])}" '
                         f'endPosition="{units.to_position(row["end"])}" creatingUser="{user}" '
                         f'creationDateTime="{when}">')
            if row.get("description"):
                lines.append(f"      <Description>{_text(str(row['description']))}</Description>")
            for code in dict.fromkeys(row.get("codes") or []):
                lines += [f'      <Coding guid="{_guid("coding", f"{sel}/{code}")}" '
                          f'creatingUser="{user}" creationDateTime="{when}">',
                          f'        <CodeRef targetGUID="{codebook.guid_of(code)}"/>',
                          "      </Coding>"]
            lines += [f'      <NoteRef targetGUID="{note}"/>' for note in refs.get(sel, [])]
            lines.append("    </PlainTextSelection>")
        lines.append("  </TextSource>")
    if docs:
        lines.append("</Sources>")
    if note_lines:
        lines += ["<Notes>", *note_lines, "</Notes>"]
    lines += ["</Project>", ""]
    files.insert(0, ("project.qde", "\n".join(lines).encode("utf-8")))

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, data in files:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.create_system = 3
                info.external_attr = 0o644 << 16
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
