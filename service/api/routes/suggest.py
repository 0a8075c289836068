"""POST /v1/suggest: stateless suggestions for a batch of segments."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from service.api.deps import SettingsDep, SuggesterDep

router = APIRouter(prefix="/v1", tags=["suggest"])


class SegmentIn(BaseModel):
    id: str = Field(examples=["p3-turn-12"])
    text: str = Field(min_length=1, examples=[
        "Honestly I didn't see what the pharmacist was for at first."])


class SuggestRequest(BaseModel):
    segments: list[SegmentIn] = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1, le=50)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)


class EvidenceOut(BaseModel):
    text: str
    codes: list[str]
    similarity: float
    id: str | None = None


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


@router.post("/suggest", response_model=SuggestResponse)
async def suggest(body: SuggestRequest, request: Request, suggester: SuggesterDep,
                  settings: SettingsDep) -> SuggestResponse:
    """Suggestions per segment, exactly as `precode suggest` gives them, best first."""
    if len(body.segments) > settings.max_segments:
        raise HTTPException(413, f"at most {settings.max_segments} segments per request")
    for i, seg in enumerate(body.segments):
        if len(seg.text) > settings.max_text_chars:
            raise HTTPException(413, f"segments[{i}].text is longer than "
                                     f"{settings.max_text_chars} characters")
    texts = [s.text for s in body.segments]
    async with request.app.state.inference_limit:
        results = await run_in_threadpool(suggester.suggest, texts, top_k=body.top_k,
                                          min_confidence=body.min_confidence)
    return SuggestResponse(segments=[
        SegmentOut(id=seg.id, no_code=res.no_code,
                   suggestions=[s.to_dict() for s in res.suggestions])
        for seg, res in zip(body.segments, results, strict=True)])
