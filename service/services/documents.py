"""Uploads: stored as they came (raw bytes), read in every format the CLI reads, segmented."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError, TranscriptError
from corpus.segment import Segment
from service.db.models import Document, Project, Upload, User
from service.db.models import Segment as SegmentRow
from service.problems import Problem, not_found
from service.settings import Settings

TRANSCRIPTS = (".txt", ".docx", ".vtt", ".srt")
TABLES = (".csv", ".jsonl")
READABLE = (*TRANSCRIPTS, *TABLES, ".qdpx")


@dataclass
class ParsedDocument:
    name: str
    text: str
    segments: list[Segment]
    codings: list = field(default_factory=list)  # FileCoding, from a .qdpx project


@dataclass
class ParsedUpload:
    documents: list[ParsedDocument]
    notes: list[str] = field(default_factory=list)


def safe_filename(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name
    return re.sub(r"[^\w.\- ()]", "_", name).strip()[:200] or "upload"


# ---- reading ----------------------------------------------------------------------------------
def _check_zip(path: Path, limit: int) -> None:
    """A .docx is a zip: refuse one with entries escaping it or too large once unpacked."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise TranscriptError("not a readable .docx file (not a zip archive)", source=str(path)
                              ) from None
    if any(i.filename.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", i.filename)
           for i in infos):
        raise TranscriptError("refused unsafe archive: an entry points outside it",
                              source=str(path))
    if sum(i.file_size for i in infos) > limit:
        raise TranscriptError(f"refused archive: over {limit:,} bytes once unpacked",
                              source=str(path))


def _read_table(path: Path) -> ParsedDocument:
    from corpus.segmentation import load_segments
    from service.writers import document_text

    segments = load_segments(path)
    text, spans = document_text(path, [{"text": s.text, "start": s.start, "end": s.end}
                                       for s in segments])
    return ParsedDocument(path.name, text, [dataclasses.replace(s, start=a, end=b)
                                            for s, (a, b) in zip(segments, spans, strict=True)])


def _read_transcript(path: Path, unit: str) -> ParsedDocument:
    from corpus.segmentation import segment_transcript
    from corpus.transcripts import read_transcript

    transcript = read_transcript(path, document=path.name)
    return ParsedDocument(path.name, transcript.text,
                          segment_transcript(transcript, unit=unit))


def _read_project(path: Path, unit: str, limit: int, codings: str) -> ParsedUpload:
    from corpus.refi import coder_name, document_names, read_qdpx
    from corpus.segmentation import segment_transcript
    from corpus.transcripts import parse_text
    from service.services.imports import FileCoding

    project = read_qdpx(path, max_uncompressed=limit)
    names = document_names(project)
    by_source: dict[str, list[FileCoding]] = {}
    for c in project.codings if codings == "import" else []:
        by_source.setdefault(c.source_guid, []).append(FileCoding(
            coder_name(project, c.user_guid), c.code_id, project.codebook[c.code_id].label,
            c.start, c.end))
    out = ParsedUpload([], list(project.notes))
    for guid, source in project.sources.items():
        transcript = parse_text(source.text or "", document=names[guid])
        if not transcript.turns:
            out.notes.append(f"source {names[guid]!r} has no text and was left out")
            continue
        out.documents.append(ParsedDocument(names[guid], source.text,
                                            segment_transcript(transcript, unit=unit),
                                            by_source.get(guid, [])))
    if project.codings and codings != "import":
        out.notes.append(f"{len(project.codings)} coding(s) in the project were not imported "
                         "(codings=ignore: only its text sources are)")
    if not out.documents:
        raise TranscriptError("the project has no text source with text", source=str(path))
    return out


def _read(path: Path, settings: Settings, codings: str) -> ParsedUpload:
    suffix = path.suffix.lower()
    if suffix == ".qdpx":
        return _read_project(path, settings.segment_unit, settings.max_archive_bytes, codings)
    if suffix in TABLES:
        return ParsedUpload([_read_table(path)])
    if suffix == ".docx":
        _check_zip(path, settings.max_archive_bytes)
    return ParsedUpload([_read_transcript(path, settings.segment_unit)])


def _check_limits(parsed: ParsedUpload, filename: str, settings: Settings) -> None:
    for doc in parsed.documents:
        if len(doc.text) > settings.max_document_chars:
            raise Problem(413, "too-large", f"{filename}: {doc.name!r} has {len(doc.text):,} "
                                            f"characters, over the limit of "
                                            f"{settings.max_document_chars:,}")
        if len(doc.segments) > settings.max_document_segments:
            raise Problem(413, "too-large", f"{filename}: {doc.name!r} has {len(doc.segments):,} "
                                            f"segments, over the limit of "
                                            f"{settings.max_document_segments:,}")
        for seg in doc.segments:
            if len(seg.text) > settings.max_text_chars:
                raise Problem(413, "too-large", f"{filename}: segment {seg.id!r} is longer than "
                                                f"{settings.max_text_chars:,} characters")


def parse_upload(filename: str, data: bytes, *, settings: Settings, codings: str = "import"
                 ) -> ParsedUpload:
    """Read one uploaded file; errors name the uploaded file, never a server path."""
    name = safe_filename(filename)
    if Path(name).suffix.lower() not in READABLE:
        raise TranscriptError(f"unsupported file type; supported: {', '.join(READABLE)}",
                              source=name)
    with tempfile.TemporaryDirectory(prefix="precode-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            parsed = _read(path, settings, codings)
        except PrecodeInputError as exc:
            source = (exc.source or str(path)).replace(str(path), name)
            raise type(exc)(exc.reason, source=source, line=exc.line, field=exc.field) from None
    _check_limits(parsed, name, settings)
    return parsed


# ---- storing ----------------------------------------------------------------------------------
def _unique_name(session: Session, project: Project, name: str) -> str:
    taken = set(session.scalars(select(Document.name).where(Document.project_id == project.id)))
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def store_upload(*, session: Session, project: Project, user: User, filename: str, data: bytes,
                 media_type: str | None, settings: Settings, codings: str = "import",
                 unknown_codes: str = "error") -> tuple[Upload, list[Document], list[str]]:
    """Read, then store the raw file, its documents, their segments and (for a .qdpx project)
    its codings, in one transaction: all of it or, after an error, nothing."""
    from service.services.imports import CODINGS, UNKNOWN_CODES, map_codes, store_codings
    from service.services.projects import project_codebook

    if codings not in CODINGS:
        raise PrecodeInputError(f"codings must be one of {', '.join(CODINGS)}", field="codings")
    if unknown_codes not in UNKNOWN_CODES:
        raise PrecodeInputError(f"unknown_codes must be one of {', '.join(UNKNOWN_CODES)}",
                                field="unknown_codes")
    parsed = parse_upload(filename, data, settings=settings, codings=codings)
    mapped, notes = map_codes({d.name: d.codings for d in parsed.documents},
                              project_codebook(project), unknown=unknown_codes,
                              source=safe_filename(filename))
    parsed.notes.extend(notes)
    upload = Upload(project_id=project.id, filename=safe_filename(filename),
                    media_type=media_type or "application/octet-stream", size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(), raw=data, uploaded_by=user.id)
    session.add(upload)
    session.flush()
    documents = []
    imported, all_coders = 0, set()
    for parsed_doc in parsed.documents:
        doc = Document(project_id=project.id, upload_id=upload.id, text=parsed_doc.text,
                       name=_unique_name(session, project, parsed_doc.name),
                       n_segments=len(parsed_doc.segments))
        session.add(doc)
        session.flush()
        rows = [SegmentRow(document_id=doc.id, position=i, external_id=str(s.id), start=s.start,
                           end=s.end, speaker=s.speaker, text=s.text,
                           is_interviewer=s.is_interviewer)
                for i, s in enumerate(parsed_doc.segments)]
        session.add_all(rows)
        documents.append(doc)
        if mapped[parsed_doc.name]:
            session.flush()
            n, coders = store_codings(session=session, project_id=project.id, user=user,
                                      filename=upload.filename, segments=rows,
                                      codings=mapped[parsed_doc.name])
            imported += n
            all_coders |= coders
    session.commit()
    if imported:
        parsed.notes.append(f"imported {imported} coding(s) of segments by "
                            f"{', '.join(sorted(all_coders))}, as accepted codings")
    return upload, documents, parsed.notes


# ---- reading back -----------------------------------------------------------------------------
def list_documents(*, session: Session, project: Project) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.project_id == project.id)
                                .order_by(Document.id)))


def get_document(*, session: Session, project: Project, document_id: int) -> Document:
    doc = session.get(Document, document_id)
    if doc is None or doc.project_id != project.id:
        raise not_found("document")
    return doc


def get_upload(*, session: Session, project: Project, upload_id: int) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None or upload.project_id != project.id:
        raise not_found("upload")
    return upload


def list_segments(*, session: Session, document: Document) -> list[SegmentRow]:
    return list(session.scalars(select(SegmentRow).where(SegmentRow.document_id == document.id)
                                .order_by(SegmentRow.position)))


def get_segment(*, session: Session, project: Project, segment_id: int) -> SegmentRow:
    seg = session.get(SegmentRow, segment_id)
    if seg is None or session.get(Document, seg.document_id).project_id != project.id:
        raise not_found("segment")
    return seg
