"""The review loop: suggestions (most informative first), decisions, added codes, the audit
trail. Every accepted or added coding joins the project's exemplar index at once."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from service.api.deps import CoderAccess, ModelsDep, PathId, QueryId, SessionDep, ViewerAccess
from service.api.schemas import (
    MAX_ID,
    BulkAcceptIn,
    BulkAcceptOut,
    CodingIn,
    DocumentSegment,
    ProjectSuggestion,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    SuggestionDetail,
    SuggestionPage,
)
from service.db.models import Document, Project, Review, Segment, Suggestion
from service.services import reviews as svc
from service.services.documents import get_segment
from service.services.projects import project_codebook

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["reviews"])

Status = Literal["pending", "accepted", "rejected", "changed", "superseded"]


def suggestion_out(project: Project, suggestion: Suggestion, segment: Segment,
                   document: Document) -> ProjectSuggestion:
    book = project_codebook(project)
    s = suggestion
    uncertainty = (round(abs(s.confidence - s.threshold), 4)
                   if s.confidence is not None and s.threshold is not None else None)
    return ProjectSuggestion(
        id=s.id, segment=DocumentSegment.model_validate(segment), document=document.name, code=s.code,
        label=book[s.code].label if s.code in book else s.code, origin=s.origin,
        confidence=s.confidence, threshold=s.threshold, uncertainty=uncertainty,
        status=s.status, decided_code=s.decided_code, evidence=s.evidence,
        model_version_id=s.model_version_id, created_at=s.created_at)


def review_out(review: Review, reviewer: str) -> ReviewOut:
    return ReviewOut(id=review.id, suggestion_id=review.suggestion_id, reviewer=reviewer,
                     action=review.action, code=review.code, coder=review.coder,
                     note=review.note, created_at=review.created_at)


def _detail(access, session, suggestion_id: int) -> SuggestionDetail:
    suggestion, segment, document = svc.get_suggestion(session=session, project=access.project,
                                                       suggestion_id=suggestion_id)
    history = svc.review_history(session=session, suggestion=suggestion)
    return SuggestionDetail(**suggestion_out(access.project, suggestion, segment,
                                             document).model_dump(),
                            reviews=[review_out(r, name) for r, name in history])


@router.get("/suggestions", response_model=SuggestionPage)
def list_suggestions(
    access: ViewerAccess, session: SessionDep,
    document_id: QueryId = None,
    code: Annotated[str | None, Query(description="The code's id or its label.")] = None,
    status: Status | None = None,
    origin: Literal["model", "human", "imported"] | None = None,
    order: Annotated[Literal["uncertainty", "position", "confidence", "newest"], Query(
        description="uncertainty: confidence closest to its threshold first (the most "
                    "informative to review)")] = "uncertainty",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> SuggestionPage:
    """Suggestions to review, filtered by document, code, status and origin."""
    total, rows = svc.list_suggestions(session=session, project=access.project,
                                       document_id=document_id, code=code, status=status,
                                       origin=origin, order=order, limit=limit, offset=offset)
    return SuggestionPage(total=total, items=[suggestion_out(access.project, *row)
                                              for row in rows])


@router.get("/suggestions/{suggestion_id}", response_model=SuggestionDetail)
def get_suggestion(suggestion_id: PathId, access: ViewerAccess, session: SessionDep
                   ) -> SuggestionDetail:
    """One suggestion with every decision on it (who, when, what)."""
    return _detail(access, session, suggestion_id)


@router.post("/suggestions/{suggestion_id}/review", response_model=SuggestionDetail)
def review(suggestion_id: PathId, body: ReviewIn, access: CoderAccess, session: SessionDep,
           models: ModelsDep, response: Response,
           idempotency_key: Annotated[str | None, Header(
               min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
               description="Any unique string (a UUID) per decision. Sending the same request "
                           "again with the same key (a retry after a lost answer) records "
                           "nothing new and answers as the first time "
                           "(`Idempotency-Replayed: true`).")] = None) -> SuggestionDetail:
    """Accept, reject or change a suggestion. A later decision replaces the earlier one as the
    suggestion's status; both stay in its history. The `Review-Id` header names the decision's
    row in the audit trail."""
    decision, recorded = svc.decide(session=session, project=access.project, user=access.user,
                             suggestion_id=suggestion_id, action=body.action, code=body.code,
                             note=body.note, idempotency_key=idempotency_key)
    detail = _detail(access, session, suggestion_id)
    session.commit()  # the connection goes back before the model takes the decision in
    response.headers["Review-Id"] = str(decision.id)  # this decision's row in the audit trail
    if recorded:
        models.catch_up(access.project.id)
    elif idempotency_key is not None:
        response.headers["Idempotency-Replayed"] = "true"
    return detail


@router.post("/suggestions/bulk-accept", response_model=BulkAcceptOut)
def bulk_accept(body: BulkAcceptIn, access: CoderAccess, session: SessionDep,
                models: ModelsDep) -> BulkAcceptOut:
    """Accept every pending suggestion matching ``ids`` / ``document_id`` / ``code`` /
    ``min_confidence`` (all given filters apply)."""
    accepted = svc.bulk_accept(session=session, project=access.project, user=access.user,
                               ids=body.ids, document_id=body.document_id, code=body.code,
                               min_confidence=body.min_confidence, note=body.note)
    models.catch_up(access.project.id)
    return BulkAcceptOut(accepted=len(accepted), ids=[s.id for s in accepted])


@router.post("/codings", response_model=SuggestionDetail, status_code=201)
def add_coding(body: CodingIn, access: CoderAccess, session: SessionDep,
               models: ModelsDep) -> SuggestionDetail:
    """Add a code the model missed to a segment (recorded as a human coding)."""
    segment = get_segment(session=session, project=access.project, segment_id=body.segment_id)
    suggestion = svc.add_coding(session=session, project=access.project, user=access.user,
                                segment=segment, code=body.code, note=body.note)
    detail = _detail(access, session, suggestion.id)
    session.commit()  # the connection goes back before the model takes the coding in
    models.catch_up(access.project.id)
    return detail


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
