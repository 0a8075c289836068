"""Who coded what: the model's and each reviewer's codings of the project's segments, as a
REFI-QDA project (.qdpx), as a long CSV (readable by ``precode agree``) and as the agreement
report between reviewers and model.

A unit is a segment, named ``document:start-end`` as in .qdpx agreement. The model "saw" every
segment of a pre-coded document that is not an interviewer turn, and coded it with its current
(not superseded) suggestions. A reviewer saw a segment when they decided on any of its
suggestions; their codes are their own latest decisions there. A coder whose codings came in a
.qdpx project saw every such segment of the documents they coded.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus.transcripts import media_clock
from service.db.models import Document, Project, Review, Segment, Suggestion, Upload, User
from service.services.projects import project_codebook
from service.services.users import MODEL_USER
from service.writers import describe

CSV_COLUMNS = ["unit", "coder", "code", "origin", "confidence", "document", "start", "end",
               "speaker", "text", "time_start", "time_end"]  # media times as ``precode code``'s


@dataclass
class CodedUnit:
    document: Document
    segment: Segment
    coder: str
    codes: list[str]
    suggestions: list[Suggestion] = field(default_factory=list)  # the model's, for descriptions

    @property
    def unit(self) -> str:
        return f"{self.document.name}:{self.segment.start}-{self.segment.end}"

    @property
    def origin(self) -> str:
        return "model" if self.coder == MODEL_USER else "human"


def _model_units(session: Session, project: Project) -> list[CodedUnit]:
    rows = session.execute(select(Segment, Document).join(Document, Document.id == Segment.document_id)
                           .where(Document.project_id == project.id,
                                  Document.precoded_at.is_not(None),
                                  Segment.is_interviewer.is_(False))
                           .order_by(Document.id, Segment.position))
    suggestions: dict[int, list[Suggestion]] = defaultdict(list)
    for s in session.scalars(select(Suggestion).where(
            Suggestion.project_id == project.id, Suggestion.origin == "model",
            Suggestion.status != "superseded").order_by(Suggestion.id)):
        suggestions[s.segment_id].append(s)
    return [CodedUnit(doc, seg, MODEL_USER, sorted({s.code for s in suggestions[seg.id]}),
                      suggestions[seg.id]) for seg, doc in rows]


def _human_units(session: Session, project: Project) -> list[CodedUnit]:
    """Each person's codings: a reviewer's latest decisions on the segments they decided on; an
    imported coder's codings, on every segment (interviewer turns aside) of the documents they
    coded, as a coder of a project file went through the whole of each document."""
    rows = session.execute(select(Review, User.name, Suggestion.segment_id)
                           .join(User, User.id == Review.reviewer_id)
                           .join(Suggestion, Suggestion.id == Review.suggestion_id)
                           .where(Review.project_id == project.id).order_by(Review.id))
    latest: dict[tuple[str, int], dict[int, str | None]] = defaultdict(dict)
    imported: dict[str, set[int]] = defaultdict(set)  # coder -> segments they coded
    for review, name, segment_id in rows:
        coder = review.coder or name
        latest[(coder, segment_id)][review.suggestion_id] = review.code
        if review.action == "import":
            imported[coder].add(segment_id)
    segments = {seg.id: (seg, doc) for seg, doc in session.execute(
        select(Segment, Document).join(Document, Document.id == Segment.document_id)
        .where(Segment.id.in_({sid for _, sid in latest})))}
    for coder, segment_ids in imported.items():
        documents = {segments[sid][1].id for sid in segment_ids}
        for seg, doc in session.execute(
                select(Segment, Document).join(Document, Document.id == Segment.document_id)
                .where(Document.id.in_(documents), Segment.is_interviewer.is_(False))):
            segments.setdefault(seg.id, (seg, doc))
            latest.setdefault((coder, seg.id), {})
    units = [CodedUnit(segments[sid][1], segments[sid][0], name,
                       sorted({c for c in decisions.values() if c}))
             for (name, sid), decisions in latest.items()]
    return sorted(units, key=lambda u: (u.coder, u.document.id, u.segment.position))


def coded_units(*, session: Session, project: Project) -> list[CodedUnit]:
    """The model's units first, then each reviewer's, in a stable order."""
    return _model_units(session, project) + _human_units(session, project)


# ---- CSV --------------------------------------------------------------------------------------
def _csv_rows(unit: CodedUnit):
    confidence = {s.code: s.confidence for s in unit.suggestions}
    seg = unit.segment
    for code in unit.codes or [""]:
        conf = confidence.get(code)
        yield [unit.unit, unit.coder, code, unit.origin, "" if conf is None else f"{conf:.4f}",
               unit.document.name, seg.start, seg.end, seg.speaker or "", seg.text,
               media_clock(seg.time_start), media_clock(seg.time_end)]


def export_csv(*, session: Session, project: Project) -> str:
    """One row per (unit, coder, code); a row with an empty code: seen, given no code."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for unit in coded_units(session=session, project=project):
        writer.writerows(_csv_rows(unit))
    return out.getvalue()


# ---- REFI-QDA ---------------------------------------------------------------------------------
def _description(unit: CodedUnit, project: Project) -> str:
    if unit.origin == "human":
        return f"Coded by {unit.coder}."
    book = project_codebook(project)
    return describe([{"code": s.code, "label": book[s.code].label if s.code in book else s.code,
                      "confidence": s.confidence, "threshold": s.threshold,
                      "evidence": s.evidence} for s in unit.suggestions])


def _media_times(segment: Segment) -> dict:
    """A subtitle segment's media time, which ``write_qdpx`` puts first in the description."""
    if segment.time_start is None or segment.time_end is None:
        return {}
    return {"time_start": segment.time_start, "time_end": segment.time_end}


def export_qdpx(*, session: Session, project: Project, path: Path) -> Path:
    """The documents, the codebook, and the codings with humans and the model as separate
    users. When every document came from one uploaded .qdpx project, that project is exported
    whole (``corpus.refi_update``) with the codings made here added; codings of the file's own
    users are already in it."""
    from corpus.refi import write_qdpx

    documents = list(session.scalars(select(Document).where(Document.project_id == project.id)
                                     .order_by(Document.id)))
    codings = [{"document": u.document.name, "start": u.segment.start, "end": u.segment.end,
                "codes": u.codes, "user": u.coder, "description": _description(u, project),
                **_media_times(u.segment)}
               for u in coded_units(session=session, project=project) if u.codes]
    uploads = {d.upload_id for d in documents}
    if len(uploads) == 1:
        upload = session.get(Upload, uploads.pop())
        if upload is not None and upload.filename.lower().endswith(".qdpx"):
            return _export_into_upload(upload, documents, codings, project, path)
    return write_qdpx(path, codebook=project_codebook(project),
                      documents=[(d.name, d.text) for d in documents], codings=codings)


def _export_into_upload(upload: Upload, documents: list[Document], codings: list[dict],
                        project: Project, path: Path) -> Path:
    import tempfile

    from corpus.refi import document_names, read_qdpx
    from corpus.refi_update import add_codings

    with tempfile.TemporaryDirectory(prefix="precode-export-") as tmp:
        src = Path(tmp) / "project.qdpx"
        src.write_bytes(upload.raw)
        original = read_qdpx(src)
        by_text: dict[str, list[str]] = {}
        for guid, name in document_names(original).items():
            by_text.setdefault(original.sources[guid].text or "", []).append(name)
        names = {d.name: (by_text.get(d.text) or [d.name])[0] for d in documents}
        own = set(original.users.values())
        rows = [dict(c, document=names[c["document"]]) for c in codings if c["user"] not in own]
        return add_codings(src, path, rows, codebook=project_codebook(project), user=MODEL_USER)


# ---- agreement --------------------------------------------------------------------------------
def project_codings(*, session: Session, project: Project):
    """The project's codings as :class:`eval.agreement_io.Codings`."""
    from eval.agreement_io import Codings

    codings = Codings()
    for unit in coded_units(session=session, project=project):
        codings.add(unit.coder, unit.unit, unit.codes)
        codings.texts[unit.unit] = unit.segment.text
    return codings
