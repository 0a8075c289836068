"""Uploads: stored as they came (raw bytes), read in every format the CLI reads, segmented."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError, TranscriptError
from corpus.segment import Segment, contexts_for, own_context
from service.db.models import Document, Project, Upload, User, utcnow
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


def safe_media_type(media_type: str | None) -> str:
    """The media type an upload was sent as, when it is a plain ``type/subtype`` (parameters
    dropped); anything else is stored as ``application/octet-stream``."""
    value = (media_type or "").split(";")[0].strip().lower()
    if len(value) <= 100 and re.fullmatch(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*",
                                          value):
        return value
    return "application/octet-stream"


# ---- reading ----------------------------------------------------------------------------------
def _check_zip(path: Path, limit: int, xml_limit: int = 32 * 2**20) -> None:
    """A .docx is a zip: refuse one with entries escaping it or too large once unpacked, and
    replace it by a copy made of what was actually unpacked.

    Sizes in a zip's headers can lie, and a reader that unpacks an entry whole inflates all of
    it before cutting it to the stated size. So every entry is unpacked here in small pieces,
    counting real bytes (at most ``limit`` in all, ``xml_limit`` for the XML parts the text is
    read from), its checksum checked, and written to a fresh archive whose headers are true; the
    .docx reader then reads that one."""
    copy = path.with_name(path.name + ".checked")
    try:
        with zipfile.ZipFile(path) as zf, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as out:
            infos = zf.infolist()
            if any(i.filename.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", i.filename)
                   for i in infos):
                raise TranscriptError("refused unsafe archive: an entry points outside it",
                                      source=str(path))
            total = xml = 0
            for info in infos:
                if info.is_dir():
                    continue
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise TranscriptError("refused archive: an entry is packed in a way a .docx "
                                          "never is", source=str(path))
                is_xml = info.filename.lower().endswith((".xml", ".rels"))
                with zf.open(info) as src, out.open(info.filename, "w", force_zip64=True) as dst:
                    while chunk := src.read(64 * 1024):
                        total += len(chunk)
                        xml += len(chunk) if is_xml else 0
                        if total > limit or xml > xml_limit:
                            raise TranscriptError(
                                f"refused archive: over {min(limit, xml_limit):,} bytes once "
                                "unpacked", source=str(path))
                        dst.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError):  # RuntimeError: encrypted
        copy.unlink(missing_ok=True)
        raise TranscriptError("not a readable .docx file (not a zip archive, or an entry's size "
                              "or checksum is wrong)", source=str(path)) from None
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    copy.replace(path)


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


def _check_sources(project, filename: str, settings: Settings) -> None:
    """Before any text source is segmented: refuse a project with more sources than an upload
    may have, or a source longer than a document may be (413)."""
    if len(project.sources) > settings.max_upload_documents:
        raise Problem(413, "too-large", f"{filename}: {len(project.sources):,} text sources, over "
                                        f"the limit of {settings.max_upload_documents:,} "
                                        "documents per upload")
    for source in project.sources.values():
        if len(source.text or "") > settings.max_document_chars:
            raise Problem(413, "too-large", f"{filename}: source {source.name[:100]!r} has "
                                            f"{len(source.text):,} characters, over the limit "
                                            f"of {settings.max_document_chars:,}")


def _read_project(path: Path, unit: str, limit: int, codings: str,
                  settings: Settings | None = None) -> ParsedUpload:
    from corpus.refi import coder_name, document_names, read_qdpx
    from corpus.segmentation import segment_transcript
    from corpus.transcripts import parse_text
    from service.services.imports import FileCoding

    project = read_qdpx(path, max_uncompressed=limit)
    if settings is not None:
        _check_sources(project, path.name, settings)
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
        return _read_project(path, settings.segment_unit, settings.max_archive_bytes, codings,
                             settings)
    if suffix in TABLES:
        return ParsedUpload([_read_table(path)])
    if suffix == ".docx":
        _check_zip(path, settings.max_archive_bytes, settings.max_docx_xml_bytes)
    return ParsedUpload([_read_transcript(path, settings.segment_unit)])


# the longest values the database columns hold
MAX_NAME_CHARS, MAX_ID_CHARS, MAX_SPEAKER_CHARS = 300, 300, 200


def _check_fields(parsed: ParsedUpload, filename: str) -> None:
    """Values the database could not store are refused here, naming the document and the
    segment (422): a NUL character anywhere, names, ids and speakers over their column's
    length."""

    def refuse(reason: str, field: str) -> PrecodeInputError:
        return PrecodeInputError(reason, source=filename, field=field)

    for doc in parsed.documents:
        if len(doc.name) > MAX_NAME_CHARS - 10 or "\x00" in doc.name:
            raise refuse(f"a document name is longer than {MAX_NAME_CHARS - 10} characters or "
                         "holds a NUL character", "document")
        if "\x00" in doc.text:
            line = doc.text.count("\n", 0, doc.text.index("\x00")) + 1
            raise PrecodeInputError(f"{doc.name!r} holds a NUL character (\\u0000)",
                                    source=filename, line=line, field="text")
        for seg in doc.segments:
            sid, speaker = str(seg.id), seg.speaker or ""
            if len(sid) > MAX_ID_CHARS or "\x00" in sid:
                raise refuse(f"{doc.name!r}: a segment id is longer than {MAX_ID_CHARS} "
                             f"characters or holds a NUL character", "id")
            if len(speaker) > MAX_SPEAKER_CHARS or "\x00" in speaker:
                raise refuse(f"{doc.name!r}: segment {sid[:40]!r} has a speaker longer than "
                             f"{MAX_SPEAKER_CHARS} characters or with a NUL character",
                             "speaker")
            if "\x00" in seg.text:
                raise refuse(f"{doc.name!r}: segment {sid[:40]!r} holds a NUL character",
                             "text")


def media_times(seg: Segment) -> dict:
    """A subtitle segment's media time in seconds (``time_start``, ``time_end``), as the CLI
    keeps it; nothing for untimed text. A segment table's columns of that name count when they
    hold numbers (as a JSONL written by ``precode code`` does)."""
    times = {k: seg.meta.get(k) for k in ("time_start", "time_end")}
    if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times.values()):
        return {}
    return {k: float(t) for k, t in times.items()}


def _check_times(parsed: ParsedUpload, filename: str) -> None:
    """Media times the exports could not write are refused here, naming the segment (422)."""
    for doc in parsed.documents:
        for seg in doc.segments:
            times = media_times(seg)
            if times and not (0 <= times["time_start"] <= times["time_end"] < 360_000):
                raise PrecodeInputError(
                    f"{doc.name!r}: segment {str(seg.id)[:40]!r} has media time "
                    f"{times['time_start']!r}-{times['time_end']!r} (seconds from 0, start "
                    "before end, under 100 hours)", source=filename, field="time_start")


def _check_limits(parsed: ParsedUpload, filename: str, settings: Settings) -> None:
    if len(parsed.documents) > settings.max_upload_documents:
        raise Problem(413, "too-large", f"{filename}: {len(parsed.documents):,} documents, over "
                                        f"the limit of {settings.max_upload_documents:,} per "
                                        "upload")
    n_segments = sum(len(d.segments) for d in parsed.documents)
    if n_segments > settings.max_upload_segments:
        raise Problem(413, "too-large", f"{filename}: {n_segments:,} segments, over the limit of "
                                        f"{settings.max_upload_segments:,} per upload")
    _check_fields(parsed, filename)
    _check_times(parsed, filename)
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
    from service.scratch import scratch

    with scratch(settings.home, "upload") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            parsed = _read(path, settings, codings)
        except PrecodeInputError as exc:
            source = (exc.source or str(path)).replace(str(path), name)
            reason = exc.reason.replace(str(path), name).replace(str(tmp), ".")
            raise type(exc)(reason, source=source, line=exc.line, field=exc.field) from None
        except RecursionError:  # JSON nested past what the reader follows
            raise TranscriptError("a line holds JSON nested too deeply", source=name) from None
        except csv.Error as exc:  # a field past the CSV reader's limit
            raise TranscriptError(f"bad CSV: {str(exc).replace(str(path), name)}",
                                  source=name) from None
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


def _check_quota(session: Session, user: User, size: int, settings: Settings) -> None:
    """A user uploads at most ``upload_quota_bytes`` in 24 hours (429 past it)."""
    if not settings.upload_quota_bytes:
        return
    since = utcnow() - timedelta(days=1)
    used = session.scalar(select(func.coalesce(func.sum(Upload.size), 0)).where(
        Upload.uploaded_by == user.id, Upload.created_at > since))
    if used + size > settings.upload_quota_bytes:
        raise Problem(429, "quota", f"this upload would pass your quota of "
                                    f"{settings.upload_quota_bytes:,} bytes in 24 hours "
                                    f"({used:,} used)", headers={"Retry-After": "3600"})


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
    _check_quota(session, user, len(data), settings)
    parsed = parse_upload(filename, data, settings=settings, codings=codings)
    mapped, notes = map_codes({d.name: d.codings for d in parsed.documents},
                              project_codebook(project), unknown=unknown_codes,
                              source=safe_filename(filename))
    parsed.notes.extend(notes)
    from service.services.projects import lock_project

    lock_project(session, project.id)  # uploads at once: each sees the names taken before it
    upload = Upload(project_id=project.id, filename=safe_filename(filename),
                    media_type=safe_media_type(media_type), size=len(data),
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
                           is_interviewer=s.is_interviewer, context=own_context(s),
                           **media_times(s))
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


def segment_contexts(*, session: Session, segment_ids: list[int]) -> dict[int, str]:
    """The question each of these segments answers (``corpus.segment.contexts_for``), by
    segment id, wherever they lie."""
    docs = set(session.scalars(select(SegmentRow.document_id)
                               .where(SegmentRow.id.in_(segment_ids))))
    if not docs:
        return {}
    rows = session.scalars(select(SegmentRow).where(SegmentRow.document_id.in_(docs))
                           .order_by(SegmentRow.document_id, SegmentRow.position))
    rows = list(rows)
    wanted = set(segment_ids)
    asked = contexts_for(rows, document=lambda seg: seg.document_id)
    return {rows[i].id: text for i, text in asked.items() if rows[i].id in wanted}


def get_segment(*, session: Session, project: Project, segment_id: int) -> SegmentRow:
    seg = session.get(SegmentRow, segment_id)
    if seg is None or session.get(Document, seg.document_id).project_id != project.id:
        raise not_found("segment")
    return seg
