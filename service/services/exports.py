"""Who coded what: the model's suggestions and each coder's accepted codings of the project's
segments, and the project's consensus, as a REFI-QDA project (.qdpx), as a long CSV (readable by
``precode agree``) and as the agreement report between coders and model.

A unit is a segment, named ``document:start-end`` as in .qdpx agreement. The model "saw" every
segment of a pre-coded document that is not an interviewer turn, and coded it with its current
(not superseded) suggestions. A coder saw a segment when they decided on any of its suggestions;
their codes are what they accepted there (their own decisions, whatever others decided: a
rejected suggestion is no coding of theirs). A coder whose codings came in a .qdpx project saw
every such segment of the documents they coded. The consensus ("precode consensus") covers the
segments where an owner set it.

What an export holds (``Selection``): one coder's codings (``coder``), the consensus
(``consensus``), the model's suggestions (``model``), or, by default, everything attributed: in
the CSV the model and every coder (the table the agreement report is computed from), in the
.qdpx every coder, the consensus, and the model's suggestions nobody rejected. The .qdpx also
holds the memos on segments (a coder's export: that coder's own; a consensus export: none), each
a REFI-QDA ``<Note>`` that its author's selection of the segment refers to.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError
from corpus.transcripts import media_clock
from service.db.models import (
    Decision,
    Document,
    Memo,
    Project,
    Review,
    Segment,
    Suggestion,
    Upload,
    User,
)
from service.services.projects import project_codebook
from service.services.users import CONSENSUS_USER, MODEL_USER

CSV_COLUMNS = ["unit", "coder", "code", "origin", "confidence", "document", "start", "end",
               "speaker", "text",
               "context",  # the question the segment answers, from an uploaded table's column
               "time_start", "time_end",  # media times as ``precode code``'s
               "status", "reviewer", "suggested_at", "decided_at"]
ACCEPTED = ("accepted", "changed")


@dataclass(frozen=True)
class Selection:
    """Which codings an export holds: ``coder`` (a name), the ``consensus``, the ``model``'s
    suggestions (``model_rejected``: also those rejected, as the model's ratings)."""

    coder: str | None = None
    consensus: bool = False
    model: bool = True
    model_rejected: bool = True
    coders: bool = True  # every coder (when no ``coder`` is named)

    @classmethod
    def of(cls, *, coder: str | None, consensus: bool, model: bool | None, qdpx: bool
           ) -> Selection:
        """The selection a request asks for: by default everything (see the module)."""
        if coder is None and not consensus:
            return cls(consensus=qdpx, model=model is not False, model_rejected=not qdpx)
        return cls(coder=coder, consensus=consensus, model=bool(model),
                   model_rejected=not qdpx, coders=False)


@dataclass
class Entry:
    """One code of one unit: what became of it and who decided, when."""

    code: str
    status: str  # pending, accepted, changed, rejected
    reviewer: str | None = None
    decided_at: datetime | None = None
    suggestion: Suggestion | None = None
    action: str | None = None  # the review that decided it (add, import, accept, ...)


@dataclass
class CodedUnit:
    document: Document
    segment: Segment
    coder: str
    entries: dict[str, Entry] = field(default_factory=dict)  # code -> entry
    seen: str = ""  # a unit without codes: "rejected" when the coder rejected its suggestions

    @property
    def codes(self) -> list[str]:
        if self.coder == MODEL_USER:
            return sorted(self.entries)
        return sorted(c for c, e in self.entries.items() if e.status in ACCEPTED)

    @property
    def suggestions(self) -> list[Suggestion]:
        return [e.suggestion for e in self.entries.values() if e.suggestion is not None]

    @property
    def unit(self) -> str:
        return f"{self.document.name}:{self.segment.start}-{self.segment.end}"

    @property
    def origin(self) -> str:
        return "model" if self.coder == MODEL_USER else "human"


def _utc(when: datetime | None) -> datetime | None:
    return None if when is None else when if when.tzinfo else when.replace(tzinfo=UTC)


def _names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(User.id, User.name)).all())


def _model_units(session: Session, project: Project, names: dict[int, str],
                 with_rejected: bool) -> list[CodedUnit]:
    rows = session.execute(select(Segment, Document).join(Document, Document.id == Segment.document_id)
                           .where(Document.project_id == project.id,
                                  Document.precoded_at.is_not(None),
                                  Segment.is_interviewer.is_(False))
                           .order_by(Document.id, Segment.position))
    latest: dict[int, tuple[datetime, int]] = {}  # suggestion -> its latest decision, by whom
    for d in session.scalars(select(Decision).where(Decision.project_id == project.id)):
        if d.suggestion_id not in latest or _utc(d.decided_at) > latest[d.suggestion_id][0]:
            latest[d.suggestion_id] = (_utc(d.decided_at), d.reviewer_id)
    entries: dict[int, dict[str, Entry]] = defaultdict(dict)
    for s in session.scalars(select(Suggestion).where(
            Suggestion.project_id == project.id, Suggestion.origin == "model",
            Suggestion.status != "superseded").order_by(Suggestion.id)):
        if not with_rejected and s.status not in ("pending", "accepted"):
            continue
        if s.consensus_status is not None:
            who, when = names.get(s.consensus_by), _utc(s.consensus_at)
        else:
            when, by = latest.get(s.id, (None, None))
            who = names.get(by)
        entries[s.segment_id].setdefault(s.code, Entry(s.code, s.status, who, when, s))
    units = [CodedUnit(doc, seg, MODEL_USER, entries[seg.id]) for seg, doc in rows]
    return units if with_rejected else [u for u in units if u.entries]


def _human_units(session: Session, project: Project, names: dict[int, str],
                 coder: str | None) -> list[CodedUnit]:
    """Each person's codings: what they accepted on the segments they decided on; an imported
    coder's codings, on every segment (interviewer turns aside) of the documents they coded, as
    a coder of a project file went through the whole of each document."""
    query = (select(Decision, Suggestion, Review.action)
             .join(Suggestion, Suggestion.id == Decision.suggestion_id)
             .join(Review, Review.id == Decision.review_id)
             .where(Decision.project_id == project.id).order_by(Decision.id))
    if coder is not None:
        query = query.where(Decision.coder == coder)
    units: dict[tuple[str, int], dict[str, Entry]] = defaultdict(dict)
    rejected: set[tuple[str, int]] = set()
    imported: dict[str, set[int]] = defaultdict(set)  # coder -> segments they coded
    for d, s, action in session.execute(query):
        key = (d.coder, s.segment_id)
        entries = units[key]
        if d.status in ACCEPTED and d.code:
            entries.setdefault(d.code, Entry(d.code, d.status, names.get(d.reviewer_id),
                                             _utc(d.decided_at), s, action))
        else:
            rejected.add(key)
        if action == "import":
            imported[d.coder].add(s.segment_id)
    segments = {seg.id: (seg, doc) for seg, doc in session.execute(
        select(Segment, Document).join(Document, Document.id == Segment.document_id)
        .where(Segment.id.in_({sid for _, sid in units})))}
    for name, segment_ids in imported.items():
        documents = {segments[sid][1].id for sid in segment_ids}
        for seg, doc in session.execute(
                select(Segment, Document).join(Document, Document.id == Segment.document_id)
                .where(Document.id.in_(documents), Segment.is_interviewer.is_(False))):
            segments.setdefault(seg.id, (seg, doc))
            units.setdefault((name, seg.id), {})
    out = [CodedUnit(segments[sid][1], segments[sid][0], name, entries,
                     "rejected" if (name, sid) in rejected else "")
           for (name, sid), entries in units.items()]
    return sorted(out, key=lambda u: (u.coder, u.document.id, u.segment.position))


def _consensus_units(session: Session, project: Project, names: dict[int, str]
                     ) -> list[CodedUnit]:
    rows = session.execute(select(Suggestion, Segment, Document)
                           .join(Segment, Segment.id == Suggestion.segment_id)
                           .join(Document, Document.id == Segment.document_id)
                           .where(Suggestion.project_id == project.id,
                                  Suggestion.consensus_status.is_not(None))
                           .order_by(Document.id, Segment.position, Suggestion.id))
    units: dict[int, CodedUnit] = {}
    for s, seg, doc in rows:
        unit = units.setdefault(seg.id, CodedUnit(doc, seg, CONSENSUS_USER))
        if s.consensus_status in ACCEPTED and s.consensus_code:
            unit.entries.setdefault(s.consensus_code, Entry(
                s.consensus_code, s.consensus_status, names.get(s.consensus_by),
                _utc(s.consensus_at), s, "consensus"))
        else:
            unit.seen = "rejected"
    return list(units.values())


def known_coders(*, session: Session, project: Project) -> list[str]:
    return sorted(set(session.scalars(select(Decision.coder).where(
        Decision.project_id == project.id).distinct())))


def coded_units(*, session: Session, project: Project,
                selection: Selection | None = None) -> list[CodedUnit]:
    """The model's units first, then each coder's, then the consensus, in a stable order."""
    selection = selection or Selection()
    if selection.coder is not None and selection.coder not in known_coders(
            session=session, project=project):
        raise PrecodeInputError(f"no coder {selection.coder!r} decided anything in this "
                                "project", field="coder")
    names = _names(session)
    units: list[CodedUnit] = []
    if selection.model:
        units += _model_units(session, project, names, selection.model_rejected)
    if selection.coders or selection.coder is not None:
        units += _human_units(session, project, names, selection.coder)
    if selection.consensus:
        units += _consensus_units(session, project, names)
    return units


# ---- CSV --------------------------------------------------------------------------------------
def _when(when: datetime | None) -> str:
    return "" if when is None else _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv_rows(unit: CodedUnit):
    seg = unit.segment
    for code in unit.codes or [""]:
        entry = unit.entries.get(code)
        s = entry.suggestion if entry is not None else None
        conf = s.confidence if s is not None and s.code == code else None
        status = entry.status if entry is not None else unit.seen
        yield [unit.unit, unit.coder, code, unit.origin, "" if conf is None else f"{conf:.4f}",
               unit.document.name, seg.start, seg.end, seg.speaker or "", seg.text,
               seg.context or "", media_clock(seg.time_start), media_clock(seg.time_end), status,
               (entry.reviewer or "") if entry is not None else "",
               _when(s.created_at) if s is not None else "",
               _when(entry.decided_at) if entry is not None else ""]


def export_csv(*, session: Session, project: Project, selection: Selection | None = None
               ) -> str:
    """One row per (unit, coder, code); a row with an empty code: seen, given no code. A
    coder's rows are what they accepted; the model's are what it suggested, each with what
    became of it (``status``: the consensus where set, else the latest decision)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for unit in coded_units(session=session, project=project, selection=selection):
        writer.writerows(_csv_rows(unit))
    return out.getvalue()


# ---- REFI-QDA ---------------------------------------------------------------------------------
def _day(when: datetime | None) -> str:
    return "" if when is None else f" on {_utc(when):%Y-%m-%d %H:%M} UTC"


def _model_line(s: Suggestion, label: str) -> str:
    return (f"{label} ({s.code}): suggested by precode, confidence {s.confidence:.2f}, "
            f"threshold {s.threshold:.2f}") if s.confidence is not None and \
        s.threshold is not None else f"{label} ({s.code}): suggested by precode"


def _evidence(s: Suggestion) -> list[str]:
    return [f"  like ({e['similarity']:.2f}): {e['text']}" for e in s.evidence or []]


def _description(unit: CodedUnit, project: Project) -> str:
    """What each code of the coding is and where it came from: who decided it and when; the
    model's confidence and evidence where it suggested it."""
    book = project_codebook(project)
    parts = []
    for code in unit.codes:
        e = unit.entries[code]
        label = book[code].label if code in book else code
        s = e.suggestion
        if unit.coder == MODEL_USER:
            state = ("not yet reviewed" if e.status == "pending"
                     else f"{e.status} by {e.reviewer or 'a coder'}{_day(e.decided_at)}")
            parts.append("\n".join([f"{_model_line(s, label)}; {state}.", *_evidence(s)]))
        elif unit.coder == CONSENSUS_USER:
            parts.append(f"{label} ({code}): consensus set by {e.reviewer}{_day(e.decided_at)}.")
        elif e.action == "import":
            parts.append(f"{label} ({code}): coded by {unit.coder}; imported by "
                         f"{e.reviewer}{_day(e.decided_at)}.")
        elif s is not None and s.origin == "model":
            verb = "changed to this" if e.status == "changed" else "accepted"
            parts.append("\n".join([f"{_model_line(s, label)}; {verb} by "
                                    f"{unit.coder}{_day(e.decided_at)}.", *_evidence(s)]))
        else:
            parts.append(f"{label} ({code}): coded by {unit.coder}{_day(e.decided_at)}.")
    return "\n".join(parts)


def _created(unit: CodedUnit) -> datetime | None:
    """When the coding came to be: its latest decision, else when it was suggested."""
    times = [e.decided_at or (e.suggestion.created_at if e.suggestion else None)
             for e in unit.entries.values() if e.code in unit.codes]
    times = [_utc(t) for t in times if t is not None]
    return max(times) if times else None


def _media_times(segment: Segment) -> dict:
    """A subtitle segment's media time, which ``write_qdpx`` puts first in the description."""
    if segment.time_start is None or segment.time_end is None:
        return {}
    return {"time_start": segment.time_start, "time_end": segment.time_end}


def _memo_notes(session: Session, project: Project, selection: Selection) -> list[dict]:
    """The memos on the project's segments as notes for the .qdpx writers: every memo, in one
    coder's export that coder's own, and none in an export of only the consensus or the model
    (a memo is its author's, and no author is in those)."""
    if selection.coder is None and not selection.coders:
        return []
    query = (select(Memo, User.name, Segment, Document)
             .join(User, User.id == Memo.author_id)
             .join(Segment, Segment.id == Memo.segment_id)
             .join(Document, Document.id == Segment.document_id)
             .where(Memo.project_id == project.id).order_by(Memo.id))
    if selection.coder is not None:
        query = query.where(User.name == selection.coder)
    return [{"document": doc.name, "start": seg.start, "end": seg.end, "user": author,
             "text": memo.text, "created": _utc(memo.created_at),
             "modified": _utc(memo.updated_at)}
            for memo, author, seg, doc in session.execute(query)]


def export_qdpx(*, session: Session, project: Project, path: Path,
                selection: Selection | None = None) -> Path:
    """The documents, the codebook, the accepted codings, each person (and the consensus, and
    the model) as a user of its own, with real dates, and the memos on segments as notes on
    their authors' selections. When every document came from one
    uploaded .qdpx project, that project is exported whole (``corpus.refi_update``) with the
    codings made here added; codings of the file's own users are already in it."""
    from corpus.refi import write_qdpx

    selection = selection or Selection(consensus=True, model_rejected=False)
    documents = list(session.scalars(select(Document).where(Document.project_id == project.id)
                                     .order_by(Document.id)))
    codings = [{"document": u.document.name, "start": u.segment.start, "end": u.segment.end,
                "codes": u.codes, "user": u.coder, "description": _description(u, project),
                "created": _created(u), **_media_times(u.segment)}
               for u in coded_units(session=session, project=project, selection=selection)
               if u.codes]
    notes = _memo_notes(session, project, selection)
    uploads = {d.upload_id for d in documents}
    if len(uploads) == 1:
        upload = session.get(Upload, uploads.pop())
        if upload is not None and upload.filename.lower().endswith(".qdpx"):
            return _export_into_upload(upload, documents, codings, project, path, notes)
    return write_qdpx(path, codebook=project_codebook(project),
                      documents=[(d.name, d.text, _utc(d.created_at)) for d in documents],
                      codings=codings, created=_utc(project.created_at), notes=notes)


def _export_into_upload(upload: Upload, documents: list[Document], codings: list[dict],
                        project: Project, path: Path, notes: list[dict]) -> Path:
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
        memos = [dict(n, document=names[n["document"]]) for n in notes]
        return add_codings(src, path, rows, codebook=project_codebook(project), user=MODEL_USER,
                           notes=memos)


# ---- agreement --------------------------------------------------------------------------------
def project_codings(*, session: Session, project: Project):
    """The project's codings as :class:`eval.agreement_io.Codings`."""
    from eval.agreement_io import Codings

    codings = Codings()
    for unit in coded_units(session=session, project=project):
        codings.add(unit.coder, unit.unit, unit.codes)
        codings.texts[unit.unit] = unit.segment.text
    return codings
