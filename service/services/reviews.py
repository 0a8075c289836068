"""The review loop: list suggestions (most informative first), accept, reject or change them,
add codes the model missed. Every decision is a new ``reviews`` row; nothing is deleted."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError
from service.db.models import STATUSES, Document, Project, Review, Segment, Suggestion, User, utcnow
from service.problems import Problem, not_found
from service.services.projects import check_code

ACTIONS = {"accept": "accepted", "reject": "rejected", "change": "changed"}
ORDERS = ("uncertainty", "position", "confidence", "newest")


def _filtered(project: Project, *, document_id: int | None, code: str | None,
              status: str | None, origin: str | None) -> Select:
    query = (select(Suggestion, Segment, Document)
             .join(Segment, Segment.id == Suggestion.segment_id)
             .join(Document, Document.id == Segment.document_id)
             .where(Suggestion.project_id == project.id))
    if status is not None and status not in STATUSES:
        raise PrecodeInputError(f"unknown status {status!r} (use {', '.join(STATUSES)})",
                                field="status")
    for column, value in ((Segment.document_id, document_id), (Suggestion.code, code),
                          (Suggestion.status, status), (Suggestion.origin, origin)):
        if value is not None:
            query = query.where(column == value)
    return query


def _ordered(query: Select, order: str) -> Select:
    if order == "uncertainty":  # confidence closest to its threshold first; human codings last
        return query.order_by(case((Suggestion.confidence.is_(None), 1), else_=0),
                              func.abs(Suggestion.confidence - Suggestion.threshold),
                              Suggestion.id)
    if order == "confidence":
        return query.order_by(Suggestion.confidence.desc(), Suggestion.id)
    if order == "newest":
        return query.order_by(Suggestion.id.desc())
    if order == "position":
        return query.order_by(Document.id, Segment.position, Suggestion.id)
    raise PrecodeInputError(f"unknown order {order!r} (use {', '.join(ORDERS)})", field="order")


def list_suggestions(*, session: Session, project: Project, document_id: int | None = None,
                     code: str | None = None, status: str | None = None,
                     origin: str | None = None, order: str = "uncertainty", limit: int = 50,
                     offset: int = 0) -> tuple[int, list[tuple[Suggestion, Segment, Document]]]:
    """The total matching and one page of (suggestion, segment, document)."""
    query = _filtered(project, document_id=document_id, code=code, status=status, origin=origin)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(_ordered(query, order).limit(limit).offset(offset))
    return total, list(rows)


def get_suggestion(*, session: Session, project: Project, suggestion_id: int
                   ) -> tuple[Suggestion, Segment, Document]:
    row = session.execute(_filtered(project, document_id=None, code=None, status=None,
                                    origin=None).where(Suggestion.id == suggestion_id)).first()
    if row is None:
        raise not_found("suggestion")
    return tuple(row)


def _record(session: Session, suggestion: Suggestion, user: User, action: str,
            code: str | None, note: str) -> Review:
    review = Review(project_id=suggestion.project_id, suggestion_id=suggestion.id,
                    reviewer_id=user.id, action=action, code=code, note=note,
                    created_at=utcnow())
    session.add(review)
    return review


def decide(*, session: Session, project: Project, user: User, suggestion_id: int, action: str,
           code: str | None = None, note: str = "") -> Review:
    """Accept, reject or change (to ``code``) one suggestion."""
    suggestion, _, _ = get_suggestion(session=session, project=project,
                                      suggestion_id=suggestion_id)
    if action not in ACTIONS:
        raise PrecodeInputError(f"unknown action {action!r} (use {', '.join(ACTIONS)})",
                                field="action")
    if suggestion.status == "superseded":
        raise Problem(409, "conflict", "this suggestion was replaced by a later pre-coding")
    if action == "change":
        if not code:
            raise PrecodeInputError("'change' needs the code to use instead", field="code")
        check_code(project, code)
    result = {"accept": suggestion.code, "reject": None, "change": code}[action]
    suggestion.status, suggestion.decided_code = ACTIONS[action], result
    review = _record(session, suggestion, user, action, result, note)
    session.commit()
    return review


def add_coding(*, session: Session, project: Project, user: User, segment: Segment, code: str,
               note: str = "") -> Suggestion:
    """A code the model missed: a human suggestion, accepted at once."""
    check_code(project, code)
    existing = session.scalar(select(Suggestion).where(
        Suggestion.segment_id == segment.id, Suggestion.code == code,
        Suggestion.status != "superseded"))
    if existing is not None:
        raise Problem(409, "conflict", f"the segment already has this code as suggestion "
                                       f"{existing.id} ({existing.status}): review that one")
    suggestion = Suggestion(project_id=project.id, segment_id=segment.id, code=code,
                            origin="human", status="accepted", decided_code=code,
                            created_by=user.id)
    session.add(suggestion)
    session.flush()
    _record(session, suggestion, user, "add", code, note)
    session.commit()
    return suggestion


def bulk_accept(*, session: Session, project: Project, user: User, ids: list[int] | None = None,
                document_id: int | None = None, code: str | None = None,
                min_confidence: float | None = None, note: str = "") -> list[Suggestion]:
    """Accept every pending suggestion that matches (all in one transaction)."""
    query = _filtered(project, document_id=document_id, code=code, status="pending",
                      origin=None)
    if ids is not None:
        query = query.where(Suggestion.id.in_(ids))
    if min_confidence is not None:
        query = query.where(Suggestion.confidence >= min_confidence)
    suggestions = [s for s, _, _ in session.execute(query.order_by(Suggestion.id))]
    for s in suggestions:
        s.status, s.decided_code = "accepted", s.code
        _record(session, s, user, "accept", s.code, note)
    session.commit()
    return suggestions


def review_history(*, session: Session, suggestion: Suggestion) -> list[tuple[Review, str]]:
    return list(session.execute(select(Review, User.name).join(User, User.id == Review.reviewer_id)
                                .where(Review.suggestion_id == suggestion.id)
                                .order_by(Review.id)))


def list_reviews(*, session: Session, project: Project, suggestion_id: int | None = None,
                 reviewer: str | None = None, limit: int = 100, offset: int = 0
                 ) -> tuple[int, list[tuple[Review, str]]]:
    query = (select(Review, User.name).join(User, User.id == Review.reviewer_id)
             .where(Review.project_id == project.id))
    if suggestion_id is not None:
        query = query.where(Review.suggestion_id == suggestion_id)
    if reviewer is not None:
        query = query.where(User.name == reviewer)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.order_by(Review.id).limit(limit).offset(offset))
    return total, list(rows)


# ---- what people decided, for the model ------------------------------------------------------
def decided_codes(*, session: Session, project_id: int, segment_ids: list[int] | None = None
                  ) -> dict[int, list[str]]:
    """Segment id -> the codes people settled on, for every reviewed segment (possibly none)."""
    query = (select(Suggestion.segment_id, Suggestion.decided_code)
             .join(Review, Review.suggestion_id == Suggestion.id)
             .where(Suggestion.project_id == project_id).distinct())
    if segment_ids is not None:
        query = query.where(Suggestion.segment_id.in_(segment_ids))
    out: dict[int, list[str]] = defaultdict(list)
    for segment_id, code in session.execute(query):
        codes = out[segment_id]
        if code is not None and code not in codes:
            codes.append(code)
    return {k: sorted(v) for k, v in out.items()}


def segments_reviewed_after(*, session: Session, project_id: int, review_id: int,
                            upto: int | None = None) -> list[int]:
    """The segments with a decision after review ``review_id`` (and up to ``upto``)."""
    query = (select(Suggestion.segment_id).join(Review, Review.suggestion_id == Suggestion.id)
             .where(Suggestion.project_id == project_id, Review.id > review_id))
    if upto is not None:
        query = query.where(Review.id <= upto)
    return list(session.scalars(query.distinct()))


def review_mark(*, session: Session, project_id: int, upto: int | None = None
                ) -> tuple[int, int]:
    """(the newest review id, how many reviews) of the project, up to review ``upto`` when
    given, read in one statement. Reviews are never deleted, so the count only grows: a count
    under an id that grew means a decision committed after a newer one was seen."""
    query = select(func.max(Review.id), func.count(Review.id)).where(
        Review.project_id == project_id)
    if upto is not None:
        query = query.where(Review.id <= upto)
    newest, n = session.execute(query).one()
    return newest or 0, n
