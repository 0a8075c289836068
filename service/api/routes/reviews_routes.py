"""The review loop: suggestions (most informative first), decisions, added codes, the audit
trail. Every accepted or added coding joins the project's exemplar index at once."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Header, Query, Response
from sqlalchemy import select

from service.api.deps import (
    CoderAccess,
    ModelsDep,
    OwnerAccess,
    PathId,
    QueryId,
    SessionDep,
    ViewerAccess,
)
from service.api.schemas import (
    MAX_ID,
    BlindCodingIn,
    BlindSegmentOut,
    BulkAcceptIn,
    BulkAcceptOut,
    CodingIn,
    ConsensusOut,
    DecisionOut,
    DocumentProgress,
    DocumentSegment,
    ImpliedOut,
    MemoIn,
    MemoOut,
    ProgressOut,
    ProjectSuggestion,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    SuggestionDetail,
    SuggestionPage,
)
from service.db.models import Decision, Memo, Project, Review, User
from service.problems import Problem
from service.services import reviews as svc
from service.services.documents import get_segment
from service.services.projects import project_codebook

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["reviews"])

Status = Literal["pending", "accepted", "rejected", "changed", "superseded"]
Blind = Annotated[bool | None, Query(
    description="Leave out the suggestions on segments you have not coded yourself (default: "
                "the project's setting; only an owner may set false in a blind project).")]


def _label(project: Project, code: str | None) -> str | None:
    book = project_codebook(project)
    return book[code].label if code in book else code


def suggestion_out(project: Project, item: svc.Item, names: dict[int, str] | None = None
                   ) -> ProjectSuggestion:
    s, segment = item.suggestion, item.segment
    uncertainty = (round(abs(s.confidence - s.threshold), 4)
                   if s.confidence is not None and s.threshold is not None else None)
    consensus = None
    if s.consensus_status is not None:
        consensus = ConsensusOut(status=s.consensus_status, code=s.consensus_code,
                                 by=(names or {}).get(s.consensus_by), at=s.consensus_at)
    return ProjectSuggestion(
        id=s.id, segment=DocumentSegment.model_validate(segment), document=item.document.name,
        code=s.code, label=_label(project, s.code), origin=s.origin, confidence=s.confidence,
        threshold=s.threshold, uncertainty=uncertainty, status=item.status,
        decided_code=item.decided_code, evidence=s.evidence,
        model_version_id=s.model_version_id, created_at=s.created_at,
        decided_at=item.decided_at, project_status=s.status, consensus=consensus,
        implies=[ImpliedOut(id=p.id, code=p.code, label=_label(project, p.code))
                 for p in item.implies])


def _names(session, items: list[svc.Item]) -> dict[int, str]:
    ids = {i.suggestion.consensus_by for i in items if i.suggestion.consensus_by}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def page_out(project: Project, session, items: list[svc.Item]) -> list[ProjectSuggestion]:
    names = _names(session, items)
    return [suggestion_out(project, item, names) for item in items]


def review_out(review: Review, reviewer: str) -> ReviewOut:
    return ReviewOut(id=review.id, suggestion_id=review.suggestion_id, reviewer=reviewer,
                     action=review.action, code=review.code, coder=review.coder,
                     note=review.note, created_at=review.created_at)


def decision_out(decision: Decision, reviewer: str) -> DecisionOut:
    return DecisionOut(reviewer=reviewer, coder=decision.coder, status=decision.status,
                       code=decision.code, created_at=decision.created_at,
                       decided_at=decision.decided_at)


def _detail(access, session, suggestion_id: int, *, seen: bool = False) -> SuggestionDetail:
    """``seen``: the person decided on it a moment ago (so blind coding hides nothing more)."""
    item = svc.get_suggestion(session=session, project=access.project, user=access.user,
                              suggestion_id=suggestion_id)
    history = svc.review_history(session=session, suggestion=item.suggestion)
    decisions = svc.decisions_on(session=session, suggestion=item.suggestion)
    if access.project.blind and access.role != "owner":  # no anchoring on colleagues either
        if (item.mine is None and not seen
                and not svc.has_coded(session, item.segment, access.user)):
            raise Problem(403, "blind", "the project codes blind: code the segment first "
                                        "(POST .../segments/{id}/blind or .../codings)")
        decisions = [(d, name) for d, name in decisions if d.reviewer_id == access.user.id]
    [out] = page_out(access.project, session, [item])
    return SuggestionDetail(**out.model_dump(),
                            reviews=[review_out(r, name) for r, name in history],
                            decisions=[decision_out(d, name) for d, name in decisions])


@router.get("/suggestions", response_model=SuggestionPage)
def list_suggestions(
    access: ViewerAccess, session: SessionDep,
    document_id: QueryId = None,
    code: Annotated[str | None, Query(description="The code's id or its label.")] = None,
    status: Annotated[Status | None, Query(
        description="Your own status: pending is what you have not decided.")] = None,
    origin: Literal["model", "human", "imported"] | None = None,
    order: Annotated[Literal["uncertainty", "position", "confidence", "newest"], Query(
        description="uncertainty: confidence closest to its threshold first (the most "
                    "informative to review)")] = "uncertainty",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    blind: Blind = None,
    parents: Annotated[bool, Query(
        description="Also list the parent suggestions a sub-code stands for (each item's "
                    "`implies`; deciding the sub-code decides them).")] = False,
    consensus: Annotated[Literal["pending", "accepted", "rejected", "changed"] | None, Query(
        description="Only suggestions whose consensus is this (pending: not set).")] = None,
) -> SuggestionPage:
    """Suggestions to review, as you see them: `status` is your own decision, whatever other
    coders decided. Filtered by document, code, your status, origin and consensus."""
    total, items = svc.list_suggestions(
        session=session, project=access.project, user=access.user, document_id=document_id,
        code=code, status=status, origin=origin, order=order, limit=limit, offset=offset,
        blind=svc.is_blind(access.project, access.role, blind), parents=parents,
        consensus=consensus)
    return SuggestionPage(total=total, items=page_out(access.project, session, items))


@router.get("/progress", response_model=ProgressOut)
def progress(access: ViewerAccess, session: SessionDep, blind: Blind = None) -> ProgressOut:
    """Your own progress: how many of the suggestions you see you decided, overall and per
    document (a sub-code counts once, with the parent it stands for)."""
    per = svc.progress(session=session, project=access.project, user=access.user,
                       blind=svc.is_blind(access.project, access.role, blind))

    def counts(c: dict[str, int]) -> dict[str, int]:
        return {**c, "decided": c["accepted"] + c["rejected"] + c["changed"]}

    total = {k: sum(c[k] for c in per.values())
             for k in ("pending", "accepted", "rejected", "changed")}
    return ProgressOut(**counts(total), documents=[
        DocumentProgress(document_id=d, **counts(c)) for d, c in sorted(per.items())])


@router.get("/suggestions/{suggestion_id}", response_model=SuggestionDetail)
def get_suggestion(suggestion_id: PathId, access: ViewerAccess, session: SessionDep
                   ) -> SuggestionDetail:
    """One suggestion with each person's decision on it and every review (who, when, what)."""
    return _detail(access, session, suggestion_id)


@router.post("/suggestions/{suggestion_id}/review", response_model=SuggestionDetail)
def review(suggestion_id: PathId, body: ReviewIn, access: CoderAccess, session: SessionDep,
           models: ModelsDep, response: Response, background: BackgroundTasks,
           idempotency_key: Annotated[str | None, Header(
               min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
               description="Any unique string (a UUID) per decision. Sending the same request "
                           "again with the same key (a retry after a lost answer) records "
                           "nothing new and answers as the first time "
                           "(`Idempotency-Replayed: true`).")] = None) -> SuggestionDetail:
    """Your decision on a suggestion: accept, reject or change it. It is your own: another
    coder's decision on the same suggestion neither replaces it nor is replaced by it; your
    later decision replaces your earlier one, and all stay in its history. Deciding a sub-code
    decides the parent suggestion it stands for (`implies`). The `Review-Id` header names the
    decision's row in the audit trail."""
    decision, recorded = svc.decide(session=session, project=access.project, user=access.user,
                             suggestion_id=suggestion_id, action=body.action, code=body.code,
                             note=body.note, idempotency_key=idempotency_key)
    detail = _detail(access, session, suggestion_id)
    session.commit()  # the connection goes back before the model takes the decision in
    response.headers["Review-Id"] = str(decision.id)  # this decision's row in the audit trail
    if recorded:  # after the answer: the next suggestion from the model catches up anyway
        background.add_task(models.catch_up, access.project.id)
    elif idempotency_key is not None:
        response.headers["Idempotency-Replayed"] = "true"
    return detail


@router.delete("/suggestions/{suggestion_id}/review", response_model=SuggestionDetail)
def undo(suggestion_id: PathId, access: CoderAccess, session: SessionDep, models: ModelsDep,
         response: Response, background: BackgroundTasks) -> SuggestionDetail:
    """Undo: withdraw your own decision on a suggestion, which is pending for you again. It no
    longer counts among your codings (exports, agreement, your progress, the evidence the
    model shows); a parent suggestion the sub-code stands for is withdrawn with it. Other
    coders' decisions and the consensus stay as they are. The withdrawal is recorded in the
    audit trail (action `undo`, its row named by the `Review-Id` header); nothing is deleted
    from it. 409 when you have no decision on it."""
    review_row = svc.undo(session=session, project=access.project, user=access.user,
                          suggestion_id=suggestion_id)
    detail = _detail(access, session, suggestion_id, seen=True)
    session.commit()  # the connection goes back before the model takes the withdrawal in
    response.headers["Review-Id"] = str(review_row.id)
    background.add_task(models.catch_up, access.project.id)  # after the answer, as a decision
    return detail


@router.post("/suggestions/{suggestion_id}/consensus", response_model=SuggestionDetail)
def consensus(suggestion_id: PathId, body: ReviewIn, access: OwnerAccess, session: SessionDep,
              models: ModelsDep, response: Response) -> SuggestionDetail:
    """The project's consensus on a suggestion (owners): accept, reject or change it, as a step
    of its own; the coders' decisions stay as they were. Setting it again replaces it. The
    consensus is what the model learns from and what `export.qdpx?consensus=true` writes."""
    review_row = svc.set_consensus(session=session, project=access.project, user=access.user,
                                   suggestion_id=suggestion_id, action=body.action,
                                   code=body.code, note=body.note)
    detail = _detail(access, session, suggestion_id)
    session.commit()
    response.headers["Review-Id"] = str(review_row.id)
    models.catch_up(access.project.id)
    return detail


@router.post("/suggestions/bulk-accept", response_model=BulkAcceptOut)
def bulk_accept(body: BulkAcceptIn, access: CoderAccess, session: SessionDep,
                models: ModelsDep) -> BulkAcceptOut:
    """Accept every suggestion you have not decided matching ``ids`` / ``document_id`` /
    ``code`` / ``min_confidence`` (all given filters apply; in a blind project, only on
    segments you coded). With ``dry_run`` nothing is recorded: the answer says how many and
    which it would accept."""
    accepted = svc.bulk_accept(session=session, project=access.project, user=access.user,
                               ids=body.ids, document_id=body.document_id, code=body.code,
                               min_confidence=body.min_confidence, note=body.note,
                               blind=access.project.blind, dry_run=body.dry_run)
    if not body.dry_run:
        models.catch_up(access.project.id)
    return BulkAcceptOut(accepted=len(accepted), ids=[s.id for s in accepted],
                         dry_run=body.dry_run)


@router.post("/codings", response_model=SuggestionDetail, status_code=201)
def add_coding(body: CodingIn, access: CoderAccess, session: SessionDep,
               models: ModelsDep) -> SuggestionDetail:
    """Code a segment yourself: a code the model missed, or your own coding in blind mode
    (the segment then counts as coded by you). Where the model or a colleague suggested the
    same code, this is your decision on that suggestion."""
    segment = get_segment(session=session, project=access.project, segment_id=body.segment_id)
    suggestion = svc.add_coding(session=session, project=access.project, user=access.user,
                                segment=segment, code=body.code, note=body.note)
    detail = _detail(access, session, suggestion.id)
    session.commit()  # the connection goes back before the model takes the coding in
    models.catch_up(access.project.id)
    return detail


def _blind_out(access, session, segment_id: int, blind: bool | None) -> BlindSegmentOut:
    segment = get_segment(session=session, project=access.project, segment_id=segment_id)
    hidden = svc.is_blind(access.project, access.role, blind)
    coded = svc.has_coded(session, segment, access.user)
    _, here = svc.list_suggestions(session=session, project=access.project, user=access.user,
                                   segment_id=segment.id, order="confidence", limit=500)
    mine = sorted({i.decided_code for i in here if i.decided_code
                   and i.mine is not None and i.mine.coder == access.user.name})
    shown = [i for i in here if coded or not hidden or i.mine is not None]
    return BlindSegmentOut(segment=DocumentSegment.model_validate(segment), blind=hidden,
                           coded=coded, my_codes=mine,
                           suggestions=page_out(access.project, session, shown))


@router.get("/segments/{segment_id}/blind", response_model=BlindSegmentOut)
def get_blind_segment(segment_id: PathId, access: ViewerAccess, session: SessionDep,
                      blind: Blind = None) -> BlindSegmentOut:
    """A segment for blind coding: your codes on it and, once you coded it (or when you do not
    code blind), its suggestions."""
    return _blind_out(access, session, segment_id, blind)


@router.post("/segments/{segment_id}/blind", response_model=BlindSegmentOut)
def code_blind_segment(segment_id: PathId, body: BlindCodingIn, access: CoderAccess,
                       session: SessionDep, models: ModelsDep) -> BlindSegmentOut:
    """Blind coding: give the segment your codes (none: no code applies) in one step. The
    segment then counts as coded by you and the answer shows its suggestions, each with your
    status (accepted where you gave its code)."""
    segment = get_segment(session=session, project=access.project, segment_id=segment_id)
    svc.code_segment(session=session, project=access.project, user=access.user,
                     segment=segment, codes=body.codes, note=body.note)
    out = _blind_out(access, session, segment_id, None)
    session.commit()
    models.catch_up(access.project.id)
    return out


def memo_out(memo: Memo, author: str) -> MemoOut:
    return MemoOut(id=memo.id, segment_id=memo.segment_id, author=author, text=memo.text,
                   created_at=memo.created_at, updated_at=memo.updated_at)


@router.post("/segments/{segment_id}/memos", response_model=MemoOut, status_code=201)
def add_memo(segment_id: PathId, body: MemoIn, access: CoderAccess, session: SessionDep
             ) -> MemoOut:
    """A memo of yours on a segment."""
    segment = get_segment(session=session, project=access.project, segment_id=segment_id)
    memo = svc.add_memo(session=session, project=access.project, user=access.user,
                        segment=segment, text=body.text)
    return memo_out(memo, access.user.name)


@router.get("/segments/{segment_id}/memos", response_model=list[MemoOut])
def list_segment_memos(segment_id: PathId, access: ViewerAccess, session: SessionDep,
                       author: str | None = None) -> list[MemoOut]:
    """The memos on a segment, oldest first (``author``: one person's)."""
    get_segment(session=session, project=access.project, segment_id=segment_id)
    return [memo_out(m, name) for m, name in svc.list_memos(
        session=session, project=access.project, segment_id=segment_id, author=author)]


@router.get("/memos", response_model=list[MemoOut])
def list_memos(access: ViewerAccess, session: SessionDep, document_id: QueryId = None,
               author: str | None = None) -> list[MemoOut]:
    """The project's memos, oldest first, by document and author."""
    return [memo_out(m, name) for m, name in svc.list_memos(
        session=session, project=access.project, document_id=document_id, author=author)]


@router.patch("/memos/{memo_id}", response_model=MemoOut)
def update_memo(memo_id: PathId, body: MemoIn, access: CoderAccess, session: SessionDep
                ) -> MemoOut:
    """Change the text of a memo of yours."""
    memo = svc.update_memo(session=session, project=access.project, user=access.user,
                           memo_id=memo_id, text=body.text)
    return memo_out(memo, access.user.name)


@router.get("/reviews", response_model=ReviewPage)
def list_reviews(access: ViewerAccess, session: SessionDep, suggestion_id: QueryId = None,
                 reviewer: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                 offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> ReviewPage:
    """The audit trail: every decision, oldest first."""
    total, rows = svc.list_reviews(session=session, project=access.project,
                                   suggestion_id=suggestion_id, reviewer=reviewer, limit=limit,
                                   offset=offset)
    return ReviewPage(total=total, items=[review_out(r, name) for r, name in rows])
