"""The review loop: list suggestions (most informative first), accept, reject or change them,
add codes the model missed. Every decision is a new ``reviews`` row; nothing is deleted."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from sqlalchemy import Select, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError
from service.db.models import (
    STATUSES,
    Document,
    IdempotencyKey,
    Project,
    Review,
    Segment,
    Suggestion,
    User,
    utcnow,
)
from service.problems import Problem, not_found
from service.services.projects import check_code, lock_project

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
    if code is not None:
        code = check_code(project, code)  # an id or a label
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


def _request_hash(project: Project, suggestion_id: int, action: str, code: str | None,
                  note: str) -> str:
    payload = json.dumps([project.id, suggestion_id, action, code, note])
    return hashlib.sha256(payload.encode()).hexdigest()


def _replayed(session: Session, user: User, key: str, fingerprint: str) -> Review | None:
    """The review recorded under ``user``'s ``key``, or None when the key is new. A key
    reused for another request is refused."""
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.user_id == user.id,
                                                      IdempotencyKey.key == key))
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise Problem(422, "idempotency-key-reused", "this Idempotency-Key was already used for "
                                                     "another request; use a new key for each "
                                                     "decision")
    return session.get(Review, row.review_id)


def decide(*, session: Session, project: Project, user: User, suggestion_id: int, action: str,
           code: str | None = None, note: str = "", idempotency_key: str | None = None
           ) -> tuple[Review, bool]:
    """Accept, reject or change (to ``code``) one suggestion. Returns the review and whether it
    was recorded now: under an ``idempotency_key`` already used by ``user`` for the same
    request, nothing is recorded and the first request's review is returned (a retry)."""
    fingerprint = _request_hash(project, suggestion_id, action, code, note)
    if idempotency_key is not None:
        earlier = _replayed(session, user, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier, False
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
        code = check_code(project, code)  # an id or a label: the id is stored
    result = {"accept": suggestion.code, "reject": None, "change": code}[action]
    suggestion.status, suggestion.decided_code = ACTIONS[action], result
    review = _record(session, suggestion, user, action, result, note)
    if idempotency_key is not None:
        session.flush()
        session.add(IdempotencyKey(user_id=user.id, key=idempotency_key,
                                   request_hash=fingerprint, project_id=project.id,
                                   suggestion_id=suggestion.id, review_id=review.id))
    try:
        session.commit()
    except IntegrityError:
        # the same key committed by a concurrent request (a retry sent before the first
        # answer): that one is the decision
        session.rollback()
        earlier = (_replayed(session, user, idempotency_key, fingerprint)
                   if idempotency_key is not None else None)
        if earlier is None:
            raise
        return earlier, False
    return review, True


def add_coding(*, session: Session, project: Project, user: User, segment: Segment, code: str,
               note: str = "") -> Suggestion:
    """A code the model missed: a human suggestion, accepted at once. ``code``: its id or
    label (the id is stored)."""
    code = check_code(project, code)
    lock_project(session, project.id)  # the same coding added twice at once: added once
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
