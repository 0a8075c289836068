"""POST /v1/suggest: stateless suggestions for a batch of segments; POST
/v1/projects/{id}/suggest: the same from a project's model, with its reviewed codings as
evidence."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from functools import partial

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from models.suggester import SegmentSuggestions, Suggester, SuggestionRequest, confidence_basis_of
from service.api.deps import CurrentUser, ModelsDep, SettingsDep, SuggesterDep, ViewerAccess
from service.api.schemas import EvidenceOut, Input
from service.services.micro_batching import SuggestMany
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["suggest"])


class SegmentIn(Input):
    id: str = Field(examples=["p3-turn-12"])
    text: str = Field(min_length=1, examples=[
        "Honestly I didn't see what the pharmacist was for at first."])
    context: str | None = Field(default=None, description=(
        "The question the text answers (a survey question, the interviewer's prompt). A model "
        "trained on excerpts with their contexts reads it; any other model ignores it."),
        examples=["What did you make of the new pharmacist role?"])


class SuggestRequest(Input):
    segments: list[SegmentIn] = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=50)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class SuggestionOut(BaseModel):
    code: str
    label: str
    confidence: float
    threshold: float
    definition: str
    evidence: list[EvidenceOut]


class SegmentOut(BaseModel):
    id: str
    no_code: bool
    suggestions: list[SuggestionOut]


class SuggestResponse(BaseModel):
    segments: list[SegmentOut]
    caution: str | None = Field(
        default=None, description="Set while the model's confidences are known not to hold on "
        "real interview speech: a model learnt from precode's authored seed corpus (the built-in "
        "one) and not yet calibrated on a researcher's codings.", examples=[None])


def check_limits(body: SuggestRequest, settings: Settings) -> None:
    if len(body.segments) > settings.max_segments:
        raise HTTPException(413, f"at most {settings.max_segments} segments per request")
    for i, seg in enumerate(body.segments):
        for name in ("text", "context"):
            if len(getattr(seg, name) or "") > settings.max_text_chars:
                raise HTTPException(413, f"segments[{i}].{name} is longer than "
                                         f"{settings.max_text_chars} characters")


def response(body: SuggestRequest, results, model: Suggester) -> SuggestResponse:
    return SuggestResponse(segments=[
        SegmentOut(id=seg.id, no_code=res.no_code,
                   suggestions=[s.to_dict() for s in res.suggestions])
        for seg, res in zip(body.segments, results, strict=True)],
        caution=confidence_basis_of(model)["caution"])


async def suggested(request: Request, body: SuggestRequest, key: Hashable,
                    suggest_many: SuggestMany) -> list[SegmentSuggestions]:
    """The results of ``body``: suggested together with the requests for the same model (``key``)
    that arrive with it (micro-batching), each getting exactly its own results; or alone when
    ``PRECODE_BATCH_WAIT_MS`` is 0."""
    ask = SuggestionRequest(tuple(s.text for s in body.segments), body.min_confidence,
                            body.top_k, tuple(s.context for s in body.segments))
    batcher = request.app.state.batcher
    if batcher.enabled:
        return await asyncio.wrap_future(batcher.submit(key, suggest_many, ask))
    async with request.app.state.inference_limit:
        [results] = await run_in_threadpool(suggest_many, [ask])
    return results


@router.post("/suggest", response_model=SuggestResponse)
async def suggest(body: SuggestRequest, request: Request, suggester: SuggesterDep,
                  settings: SettingsDep, _: CurrentUser) -> SuggestResponse:
    """Suggestions per segment, exactly as `precode suggest` gives them, best first."""
    check_limits(body, settings)
    return response(body, await suggested(request, body, "server model",
                                          suggester.suggest_many), suggester)


@router.post("/projects/{project_id}/suggest", response_model=SuggestResponse,
             tags=["projects"])
async def project_suggest(body: SuggestRequest, request: Request, access: ViewerAccess,
                          models: ModelsDep, settings: SettingsDep) -> SuggestResponse:
    """Suggestions from the project's current model; codings accepted in the project are
    evidence at once (ids ``segment-<id>``)."""
    check_limits(body, settings)
    pid = access.project.id
    results = await suggested(request, body, ("project", pid), partial(models.suggest_many, pid))
    return response(body, results, models.held(pid).suggester)
