"""The review loop: list suggestions (most informative first), accept, reject or change them,
add codes the model missed, withdraw one's own decision (undo), settle the project's consensus,
keep memos. Every decision, and every withdrawal of one, is a new ``reviews`` row; no review is
ever deleted.

Each coder's decisions are their own (``decisions``: one row per suggestion and person): a
listing shows the current user's own status, and another coder's decision never replaces it.
The project's consensus is a step of its own, taken by an owner. A sub-code suggestion and the
parent suggestion the model rolled up from it are one suggestion: the listing shows the sub-code
(``implies`` names the parent) and a decision on it decides the parent too. In blind coding the
model's suggestions on a segment are hidden from a coder until they coded it themselves."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, case, exists, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from corpus.errors import PrecodeInputError
from service.db.models import (
    STATUSES,
    CodedSegment,
    Decision,
    Document,
    IdempotencyKey,
    Memo,
    Project,
    Review,
    Segment,
    Suggestion,
    User,
    utcnow,
)
from service.problems import Problem, not_found
from service.services.projects import check_code, lock_project, project_codebook

ACTIONS = {"accept": "accepted", "reject": "rejected", "change": "changed"}
ORDERS = ("uncertainty", "position", "confidence", "newest")
DECIDED_ACCEPTED = ("accepted", "changed")


@dataclass
class Item:
    """A suggestion as one person sees it: their own decision on it (``mine``; for a coding
    they imported, the import) and the parent suggestions it implies."""

    suggestion: Suggestion
    segment: Segment
    document: Document
    mine: Decision | None = None
    implies: list[Suggestion] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.mine is not None:
            return self.mine.status
        return "superseded" if self.suggestion.status == "superseded" else "pending"

    @property
    def decided_code(self) -> str | None:
        return self.mine.code if self.mine is not None else None

    @property
    def decided_at(self) -> datetime | None:
        return self.mine.decided_at if self.mine is not None else None


# ---- which suggestions a person sees ----------------------------------------------------------
def _implied_parent(project: Project):
    """True for a model suggestion of a parent code on a segment where the model also suggests
    one of its sub-codes: the sub-code's suggestion stands for both."""
    book = project_codebook(project)
    child = aliased(Suggestion, name="child")
    conditions = [and_(Suggestion.code == code.id, child.code.in_(book.descendants(code.id)))
                  for code in book if book.children(code.id)]
    if not conditions:
        return None
    return and_(Suggestion.origin == "model", exists(select(child.id).where(
        child.segment_id == Suggestion.segment_id, child.origin == "model",
        child.status != "superseded", or_(*conditions))))


def is_blind(project: Project, role: str, blind: bool | None) -> bool:
    """Whether a listing hides the suggestions on segments the person has not coded: the
    project's setting, or the person's own request. Only an owner may look past a blind
    project's setting (to settle the consensus)."""
    if blind is None:
        return project.blind
    if not blind and project.blind and role != "owner":
        raise Problem(403, "forbidden", "the project codes blind: its suggestions show on a "
                                        "segment once you coded it (only an owner can list "
                                        "them all)")
    return blind


def _filtered(project: Project, user: User, *, document_id: int | None = None,
              code: str | None = None, status: str | None = None, origin: str | None = None,
              blind: bool = False, parents: bool = False,
              consensus: str | None = None, segment_id: int | None = None,
              columns=None) -> Select:
    """The suggestions ``user`` sees, with their own decision (``own``, or for a coding they
    imported ``brought``); ``columns(mine)``: other columns to select, given the expression of
    their own status."""
    own = aliased(Decision, name="own")
    brought = aliased(Decision, name="brought")
    mine = case((own.id.is_not(None), own.status), (brought.id.is_not(None), brought.status),
                (Suggestion.status == "superseded", "superseded"), else_="pending")
    wanted = (Suggestion, Segment, Document, own, brought) if columns is None else columns(mine)
    query = (select(*wanted).select_from(Suggestion)
             .join(Segment, Segment.id == Suggestion.segment_id)
             .join(Document, Document.id == Segment.document_id)
             .outerjoin(own, and_(own.suggestion_id == Suggestion.id,
                                  own.reviewer_id == user.id, own.coder == user.name))
             .outerjoin(brought, and_(brought.suggestion_id == Suggestion.id,
                                      brought.reviewer_id == user.id,
                                      brought.coder != user.name))
             .where(Suggestion.project_id == project.id))
    if status is not None and status not in STATUSES:
        raise PrecodeInputError(f"unknown status {status!r} (use {', '.join(STATUSES)})",
                                field="status")
    if code is not None:
        code = check_code(project, code)  # an id or a label
    for column, value in ((Segment.document_id, document_id), (Suggestion.code, code),
                          (Suggestion.origin, origin), (Suggestion.segment_id, segment_id)):
        if value is not None:
            query = query.where(column == value)
    if status is not None:
        query = query.where(mine == status)
    if consensus is not None:
        query = query.where(Suggestion.consensus_status.is_(None) if consensus == "pending"
                            else Suggestion.consensus_status == consensus)
    if not parents:
        implied = _implied_parent(project)
        if implied is not None:
            query = query.where(not_(implied))
    if blind:
        coded = exists(select(CodedSegment.id).where(
            CodedSegment.segment_id == Suggestion.segment_id, CodedSegment.user_id == user.id))
        query = query.where(or_(coded, own.id.is_not(None), brought.id.is_not(None)))
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


def _items(session: Session, project: Project, rows) -> list[Item]:
    items = [Item(s, seg, doc, own if own is not None else brought)
             for s, seg, doc, own, brought in rows]
    book = project_codebook(project)
    wanted = {i.segment.id for i in items if i.suggestion.origin == "model"
              and i.suggestion.code in book and book.ancestors(i.suggestion.code)}
    if wanted:
        on_segment: dict[int, list[Suggestion]] = defaultdict(list)
        for s in session.scalars(select(Suggestion).where(
                Suggestion.segment_id.in_(wanted), Suggestion.origin == "model",
                Suggestion.status != "superseded").order_by(Suggestion.id)):
            on_segment[s.segment_id].append(s)
        for item in items:
            if item.suggestion.origin == "model" and item.suggestion.code in book:
                above = set(book.ancestors(item.suggestion.code))
                item.implies = [s for s in on_segment.get(item.segment.id, [])
                                if s.code in above]
    return items


def list_suggestions(*, session: Session, project: Project, user: User,
                     document_id: int | None = None, code: str | None = None,
                     status: str | None = None, origin: str | None = None,
                     order: str = "uncertainty", limit: int = 50, offset: int = 0,
                     blind: bool = False, parents: bool = False,
                     consensus: str | None = None, segment_id: int | None = None
                     ) -> tuple[int, list[Item]]:
    """The total matching and one page, as ``user`` sees them: ``status`` is their own
    (pending: not decided by them). Parent suggestions a sub-code implies are left out unless
    ``parents``; with ``blind``, suggestions on segments ``user`` has not coded."""
    query = _filtered(project, user, document_id=document_id, code=code, status=status,
                      origin=origin, blind=blind, parents=parents, consensus=consensus,
                      segment_id=segment_id)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(_ordered(query, order).limit(limit).offset(offset))
    return total, _items(session, project, rows)


def progress(*, session: Session, project: Project, user: User, blind: bool = False
             ) -> dict[int, dict[str, int]]:
    """Per document id, how many of the suggestions ``user`` sees they left pending,
    accepted, rejected or changed (superseded ones aside)."""
    out: dict[int, dict[str, int]] = {}
    query = _filtered(project, user, blind=blind, columns=lambda mine: (Segment.document_id,
                                                                        mine, func.count()))
    for document_id, status, n in session.execute(query.group_by(Segment.document_id,
                                                                 query.selected_columns[1])):
        counts = out.setdefault(document_id, dict.fromkeys(
            ("pending", "accepted", "rejected", "changed"), 0))
        if status in counts:
            counts[status] += n
    return out


def get_suggestion(*, session: Session, project: Project, user: User, suggestion_id: int
                   ) -> Item:
    row = session.execute(_filtered(project, user, parents=True)
                          .where(Suggestion.id == suggestion_id)).first()
    if row is None:
        raise not_found("suggestion")
    return _items(session, project, [row])[0]


def _suggestion(session: Session, project: Project, suggestion_id: int) -> Suggestion:
    suggestion = session.get(Suggestion, suggestion_id)
    if suggestion is None or suggestion.project_id != project.id:
        raise not_found("suggestion")
    return suggestion


def decisions_on(*, session: Session, suggestion: Suggestion) -> list[tuple[Decision, str]]:
    """Every person's current decision on a suggestion, with the reviewer's name."""
    return list(session.execute(select(Decision, User.name)
                                .join(User, User.id == Decision.reviewer_id)
                                .where(Decision.suggestion_id == suggestion.id)
                                .order_by(Decision.id)))


# ---- deciding ---------------------------------------------------------------------------------
def _record(session: Session, suggestion: Suggestion, user: User, action: str,
            code: str | None, note: str, coder: str | None = None) -> Review:
    review = Review(project_id=suggestion.project_id, suggestion_id=suggestion.id,
                    reviewer_id=user.id, action=action, code=code, note=note, coder=coder,
                    created_at=utcnow())
    session.add(review)
    session.flush()
    return review


def set_decision(session: Session, suggestion: Suggestion, user: User, status: str,
                 code: str | None, review: Review, coder: str | None = None) -> Decision:
    """``user``'s decision (or, for an import, ``coder``'s) on ``suggestion`` is now this."""
    coder = coder or user.name
    row = session.scalar(select(Decision).where(Decision.suggestion_id == suggestion.id,
                                                Decision.reviewer_id == user.id,
                                                Decision.coder == coder))
    if row is None:
        row = Decision(project_id=suggestion.project_id, suggestion_id=suggestion.id,
                       reviewer_id=user.id, coder=coder, status=status, code=code,
                       review_id=review.id, created_at=review.created_at,
                       decided_at=review.created_at)
        session.add(row)
    elif (row.status, row.code) != (status, code) or row.review_id != review.id:
        row.status, row.code, row.review_id, row.decided_at = (status, code, review.id,
                                                               review.created_at)
    return row


def _parents_of(session: Session, project: Project, suggestion: Suggestion
                ) -> list[tuple[Suggestion, list[Suggestion]]]:
    """The parent suggestions ``suggestion`` implies, each with every live model suggestion of
    its sub-codes on the segment."""
    book = project_codebook(project)
    if suggestion.origin != "model" or suggestion.code not in book:
        return []
    above = book.ancestors(suggestion.code)
    if not above:
        return []
    live = list(session.scalars(select(Suggestion).where(
        Suggestion.segment_id == suggestion.segment_id, Suggestion.origin == "model",
        Suggestion.status != "superseded").order_by(Suggestion.id)))
    return [(p, [s for s in live if s.code in book.descendants(p.code)])
            for p in live if p.code in above]


def _subtree(project: Project, code: str) -> set[str]:
    book = project_codebook(project)
    return {code, *book.descendants(code)} if code in book else {code}


def _decide_parents(session: Session, project: Project, suggestion: Suggestion, user: User,
                    review: Review) -> None:
    """A parent the sub-code implies follows ``user``'s decisions on its sub-codes: accepted
    when one of them is accepted (or changed to a code under it), else rejected."""
    for parent, kids in _parents_of(session, project, suggestion):
        subtree = _subtree(project, parent.code)
        mine = {d.suggestion_id: d for d in session.scalars(select(Decision).where(
            Decision.suggestion_id.in_([k.id for k in kids]), Decision.reviewer_id == user.id,
            Decision.coder == user.name))}
        accepted = any(d.status in DECIDED_ACCEPTED and d.code in subtree for d in mine.values())
        status, code = ("accepted", parent.code) if accepted else ("rejected", None)
        set_decision(session, parent, user, status, code, review)
        if parent.consensus_status is None:
            parent.status, parent.decided_code = status, code


def _apply(session: Session, project: Project, suggestion: Suggestion, user: User, action: str,
           result: str | None, note: str) -> Review:
    review = _record(session, suggestion, user, action, result, note)
    status = "accepted" if action == "add" else ACTIONS[action]
    set_decision(session, suggestion, user, status, result, review)
    if suggestion.consensus_status is None:  # the project's view: the latest decision
        suggestion.status, suggestion.decided_code = status, result
    session.flush()
    _decide_parents(session, project, suggestion, user, review)
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


def _resolve(project: Project, suggestion: Suggestion, action: str, code: str | None
             ) -> str | None:
    """The code the segment carries after ``action`` (checked), or None for a rejection."""
    if action not in ACTIONS:
        raise PrecodeInputError(f"unknown action {action!r} (use {', '.join(ACTIONS)})",
                                field="action")
    if suggestion.status == "superseded":
        raise Problem(409, "conflict", "this suggestion was replaced by a later pre-coding")
    if action == "change":
        if not code:
            raise PrecodeInputError("'change' needs the code to use instead", field="code")
        code = check_code(project, code)  # an id or a label: the id is stored
    return {"accept": suggestion.code, "reject": None, "change": code}[action]


def decide(*, session: Session, project: Project, user: User, suggestion_id: int, action: str,
           code: str | None = None, note: str = "", idempotency_key: str | None = None
           ) -> tuple[Review, bool]:
    """``user``'s own decision on one suggestion: accept, reject or change (to ``code``); a
    parent suggestion the sub-code implies is decided with it. Returns the review and whether
    it was recorded now: under an ``idempotency_key`` already used by ``user`` for the same
    request, nothing is recorded and the first request's review is returned (a retry)."""
    fingerprint = _request_hash(project, suggestion_id, action, code, note)
    if idempotency_key is not None:
        earlier = _replayed(session, user, idempotency_key, fingerprint)
        if earlier is not None:
            return earlier, False
    segment = select(Suggestion.segment_id).where(Suggestion.id == suggestion_id,
                                                  Suggestion.project_id == project.id)
    lock_segments(session, project.id, segment)  # one decision per person and suggestion
    suggestion = _suggestion(session, project, suggestion_id)
    result = _resolve(project, suggestion, action, code)
    review = _apply(session, project, suggestion, user, action, result, note)
    if idempotency_key is not None:
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


def _project_view(session: Session, suggestion: Suggestion) -> None:
    """The suggestion's project view after a decision was withdrawn: the consensus where set,
    else the latest decision still standing, else pending."""
    if suggestion.consensus_status is not None:
        return
    latest = session.scalar(select(Decision).where(Decision.suggestion_id == suggestion.id)
                            .order_by(Decision.review_id.desc(), Decision.id.desc()).limit(1))
    suggestion.status, suggestion.decided_code = ((latest.status, latest.code)
                                                  if latest is not None else ("pending", None))


def _own_decision(session: Session, suggestion: Suggestion, user: User) -> Decision | None:
    return session.scalar(select(Decision).where(Decision.suggestion_id == suggestion.id,
                                                 Decision.reviewer_id == user.id,
                                                 Decision.coder == user.name))


def undo(*, session: Session, project: Project, user: User, suggestion_id: int,
         note: str = "") -> Review:
    """Withdraw ``user``'s own decision on one suggestion: it is pending for them again, and
    no longer among their codings (exports, agreement, progress, the exemplar index). A parent
    the sub-code implies follows: withdrawn with it, unless another of ``user``'s decisions on
    its sub-codes still stands. The withdrawal is a review of its own (action ``undo``); the
    earlier reviews stay in the audit trail."""
    lock_segments(session, project.id, select(Suggestion.segment_id).where(
        Suggestion.id == suggestion_id, Suggestion.project_id == project.id))
    suggestion = _suggestion(session, project, suggestion_id)
    if suggestion.status == "superseded":
        raise Problem(409, "conflict", "this suggestion was replaced by a later pre-coding")
    mine = _own_decision(session, suggestion, user)
    if mine is None:
        raise Problem(409, "nothing-to-undo", "you have no decision on this suggestion to undo "
                                              "(it is pending for you)")
    children = _children_decided(session, project, suggestion, user)
    if children:
        raise Problem(409, "conflict", f"your decision here follows your decision on the "
                                       f"sub-code's suggestion {children[0].id}: undo that one")
    review = _record(session, suggestion, user, "undo", None, note)
    session.delete(mine)
    session.flush()
    _project_view(session, suggestion)
    for parent, kids in _parents_of(session, project, suggestion):
        standing = list(session.scalars(select(Decision).where(
            Decision.suggestion_id.in_([k.id for k in kids]), Decision.reviewer_id == user.id,
            Decision.coder == user.name).order_by(Decision.review_id)))
        held = _own_decision(session, parent, user)
        if not standing:
            if held is not None:
                session.delete(held)
        else:  # as the sub-codes still decided say (see _decide_parents)
            subtree = _subtree(project, parent.code)
            accepted = any(d.status in DECIDED_ACCEPTED and d.code in subtree
                           for d in standing)
            status, code = ("accepted", parent.code) if accepted else ("rejected", None)
            set_decision(session, parent, user, status, code,
                         session.get(Review, standing[-1].review_id))
        session.flush()
        _project_view(session, parent)
    session.commit()
    return review


def _children_decided(session: Session, project: Project, suggestion: Suggestion, user: User
                      ) -> list[Suggestion]:
    """The live model suggestions of sub-codes of ``suggestion``'s code on its segment that
    ``user`` decided: their decisions decide this (implied) parent."""
    book = project_codebook(project)
    if suggestion.origin != "model" or suggestion.code not in book:
        return []
    below = book.descendants(suggestion.code)
    if not below:
        return []
    return list(session.scalars(select(Suggestion).join(
        Decision, Decision.suggestion_id == Suggestion.id).where(
        Suggestion.segment_id == suggestion.segment_id, Suggestion.origin == "model",
        Suggestion.status != "superseded", Suggestion.code.in_(below),
        Decision.reviewer_id == user.id, Decision.coder == user.name)
        .order_by(Suggestion.id)))


def set_consensus(*, session: Session, project: Project, user: User, suggestion_id: int,
                  action: str, code: str | None = None, note: str = "") -> Review:
    """The project's consensus on one suggestion, set by an owner as a step of its own (the
    coders' decisions stay as they are). A parent the sub-code implies follows it."""
    lock_segments(session, project.id, select(Suggestion.segment_id).where(
        Suggestion.id == suggestion_id, Suggestion.project_id == project.id))
    suggestion = _suggestion(session, project, suggestion_id)
    result = _resolve(project, suggestion, action, code)
    review = _record(session, suggestion, user, "consensus", result, note)
    now = review.created_at
    targets = [(suggestion, ACTIONS[action], result)]
    for parent, kids in _parents_of(session, project, suggestion):
        subtree = _subtree(project, parent.code)
        settled = [(k.consensus_status, k.consensus_code) if k.id != suggestion.id
                   else (ACTIONS[action], result) for k in kids]
        accepted = any(s in DECIDED_ACCEPTED and c in subtree for s, c in settled)
        targets.append((parent, "accepted" if accepted else "rejected",
                        parent.code if accepted else None))
    for target, status, result_code in targets:
        target.consensus_status, target.consensus_code = status, result_code
        target.consensus_by, target.consensus_at = user.id, now
        target.status, target.decided_code = status, result_code
    session.commit()
    return review


def lock_segments(session: Session, project_id: int, segment_ids) -> None:
    """Begin a transaction that holds the suggestions of these segments, so that decisions on
    them run one after another (one decision per person and suggestion, and a parent decided
    with its sub-codes). PostgreSQL: their rows, ``FOR NO KEY UPDATE`` (rows being added that
    refer to them, such as another decision's review, do not wait); SQLite: the database's
    write lock (:func:`lock_project`)."""
    if session.get_bind().dialect.name != "postgresql":
        lock_project(session, project_id)
        return
    if session.in_transaction():
        session.commit()  # what was read so far came before the lock: read again after it
    session.execute(select(Suggestion.id).where(Suggestion.segment_id.in_(segment_ids))
                    .order_by(Suggestion.id).with_for_update(key_share=True))


def mark_coded(session: Session, project: Project, segment: Segment, user: User) -> None:
    """``user`` coded ``segment`` themselves (blind coding shows them its suggestions now)."""
    if session.scalar(select(CodedSegment.id).where(CodedSegment.segment_id == segment.id,
                                                    CodedSegment.user_id == user.id)) is None:
        session.add(CodedSegment(project_id=project.id, segment_id=segment.id, user_id=user.id))


def _hold_segment(session: Session, segment: Segment) -> None:
    """Within a transaction holding the project's lock, also hold the segment's suggestions
    (PostgreSQL), as a decision on them does (:func:`lock_segments`)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Suggestion.id).where(Suggestion.segment_id == segment.id)
                        .order_by(Suggestion.id).with_for_update(key_share=True))


def has_coded(session: Session, segment: Segment, user: User) -> bool:
    return session.scalar(select(CodedSegment.id).where(
        CodedSegment.segment_id == segment.id, CodedSegment.user_id == user.id)) is not None


def _add(session: Session, project: Project, user: User, segment: Segment, code: str,
         note: str) -> Suggestion:
    """One coding of ``user`` (in the caller's transaction, which holds the project's lock)."""
    live = list(session.scalars(select(Suggestion).where(
        Suggestion.segment_id == segment.id, Suggestion.status != "superseded")
        .order_by(Suggestion.id)))
    mine = {d.suggestion_id: d for d in session.scalars(select(Decision).where(
        Decision.suggestion_id.in_([s.id for s in live]), Decision.reviewer_id == user.id,
        Decision.coder == user.name))}
    carried = [s for s in live if s.id in mine and mine[s.id].status in DECIDED_ACCEPTED
               and mine[s.id].code == code]
    if carried:
        raise Problem(409, "conflict", f"you already coded the segment with this code "
                                       f"(suggestion {carried[0].id})")
    same = [s for s in live if s.code == code]
    # the model's or a colleague's suggestion of the same code: this coding is a decision on it
    suggestion = next((s for s in same if s.origin == "human"), same[0] if same else None)
    if suggestion is None:
        suggestion = Suggestion(project_id=project.id, segment_id=segment.id, code=code,
                                origin="human", status="accepted", decided_code=code,
                                created_by=user.id)
        session.add(suggestion)
        session.flush()
    _apply(session, project, suggestion, user, "add", code, note)
    mark_coded(session, project, segment, user)
    return suggestion


def add_coding(*, session: Session, project: Project, user: User, segment: Segment, code: str,
               note: str = "") -> Suggestion:
    """A code ``user`` gives a segment themselves (the model missed it, or the coder codes
    blind): a human coding, accepted by them at once. Where the model or a colleague already
    suggested the code, the coding is ``user``'s decision on that suggestion. ``code``: its id
    or label (the id is stored)."""
    code = check_code(project, code)
    lock_project(session, project.id)  # the same coding added twice at once: added once
    _hold_segment(session, segment)
    suggestion = _add(session, project, user, segment, code, note)
    session.commit()
    return suggestion


def code_segment(*, session: Session, project: Project, user: User, segment: Segment,
                 codes: list[str], note: str = "") -> list[Suggestion]:
    """Blind coding: ``user``'s codes for a segment (possibly none) in one step; the segment
    counts as coded by them, so its suggestions show from now on. Codes they already gave it
    are kept, not refused."""
    ids = list(dict.fromkeys(check_code(project, c, field=f"codes[{i}]")
                             for i, c in enumerate(codes)))
    lock_project(session, project.id)
    _hold_segment(session, segment)
    mine = set(session.scalars(select(Decision.code).join(
        Suggestion, Suggestion.id == Decision.suggestion_id).where(
        Suggestion.segment_id == segment.id, Suggestion.status != "superseded",
        Decision.reviewer_id == user.id, Decision.coder == user.name,
        Decision.status.in_(DECIDED_ACCEPTED))))
    added = [_add(session, project, user, segment, c, note) for c in ids if c not in mine]
    mark_coded(session, project, segment, user)
    session.commit()
    return added


def bulk_accept(*, session: Session, project: Project, user: User, ids: list[int] | None = None,
                document_id: int | None = None, code: str | None = None,
                min_confidence: float | None = None, note: str = "",
                blind: bool = False, dry_run: bool = False) -> list[Suggestion]:
    """Accept every suggestion matching that ``user`` has not decided (all in one
    transaction); a parent a sub-code implies is accepted with it. ``dry_run``: only say
    which."""
    query = _filtered(project, user, document_id=document_id, code=code, status="pending",
                      blind=blind)
    if ids is not None:
        query = query.where(Suggestion.id.in_(ids))
    if min_confidence is not None:
        query = query.where(Suggestion.confidence >= min_confidence)
    if dry_run:
        return [row[0] for row in session.execute(query.order_by(Suggestion.id))]
    lock_segments(session, project.id, select(query.subquery().c.segment_id))
    suggestions = [row[0] for row in session.execute(query.order_by(Suggestion.id))]
    for s in suggestions:
        _apply(session, project, s, user, "accept", s.code, note)
    session.commit()
    return suggestions


# ---- memos ------------------------------------------------------------------------------------
def add_memo(*, session: Session, project: Project, user: User, segment: Segment, text: str
             ) -> Memo:
    memo = Memo(project_id=project.id, segment_id=segment.id, author_id=user.id, text=text)
    session.add(memo)
    session.commit()
    return memo


def list_memos(*, session: Session, project: Project, segment_id: int | None = None,
               document_id: int | None = None, author: str | None = None
               ) -> list[tuple[Memo, str]]:
    query = (select(Memo, User.name).join(User, User.id == Memo.author_id)
             .where(Memo.project_id == project.id))
    if segment_id is not None:
        query = query.where(Memo.segment_id == segment_id)
    if document_id is not None:
        query = query.where(Memo.segment_id.in_(select(Segment.id).where(
            Segment.document_id == document_id)))
    if author is not None:
        query = query.where(User.name == author)
    return list(session.execute(query.order_by(Memo.id)))


def update_memo(*, session: Session, project: Project, user: User, memo_id: int, text: str
                ) -> Memo:
    memo = session.get(Memo, memo_id)
    if memo is None or memo.project_id != project.id:
        raise not_found("memo")
    if memo.author_id != user.id:
        raise Problem(403, "forbidden", "only its author can change a memo")
    memo.text, memo.updated_at = text, utcnow()
    session.commit()
    return memo


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
    """Segment id -> the codes the project settled on (the consensus where set, else the latest
    decision standing), for every segment with a decision or a consensus (possibly no code).
    A withdrawn decision (``undo``) counts for nothing."""
    reviewed = or_(Suggestion.consensus_status.is_not(None),
                   exists(select(Decision.id).where(Decision.suggestion_id == Suggestion.id)))
    query = (select(Suggestion.segment_id, Suggestion.decided_code)
             .where(Suggestion.project_id == project_id, reviewed).distinct())
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
