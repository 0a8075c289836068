"""Exports (.qdpx, CSV) and the agreement between reviewers and the model."""

from __future__ import annotations

import tempfile
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from service.api.deps import OwnerAccess, SessionDep, ViewerAccess
from service.api.schemas import AGREEMENT_EXAMPLE, PAIRS_EXAMPLE
from service.problems import Problem
from service.services import exports as svc

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["exports"])

Coder = Annotated[str | None, Query(min_length=1, max_length=200,
                                    description="Only this coder's accepted codings (a user's "
                                                "name, or a coder an imported project names).")]
Consensus = Annotated[bool, Query(description="Only the project's consensus (with `coder`: "
                                              "both).")]
Model = Annotated[bool | None, Query(description="Also the model's suggestions (default: yes "
                                                 "when neither `coder` nor `consensus` is "
                                                 "given).")]


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/export.qdpx", response_class=Response,
            responses={200: {"content": {"application/zip": {}},
                             "description": "A REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, "
                                            "QualCoder): the documents, the codebook, the "
                                            "codings with each reviewer and the model "
                                            "('precode model') as separate users, and the "
                                            "memos as notes on their segments"}})
def export_qdpx(access: OwnerAccess, session: SessionDep, coder: Coder = None,
                consensus: Consensus = False, model: Model = None) -> Response:
    """The accepted codings, each coder (and the consensus, and the model) as a user of its
    own, with the dates they were made and, in each selection's description, who decided what
    and when. By default: every coder's accepted codings, the consensus where an owner set it
    ('precode consensus'), and the model's suggestions nobody rejected ('precode model',
    noted 'not yet reviewed' or who accepted them). `coder` or `consensus` export only those
    (add `model=true` for the model's too). A rejected suggestion is never a coding. Each
    memo on a segment is a `<Note>` (by its author, with its dates) that the author's selection
    of the segment refers to with a `<NoteRef>`; `coder` exports that coder's memos only."""
    selection = svc.Selection.of(coder=coder, consensus=consensus, model=model, qdpx=True)
    with tempfile.TemporaryDirectory(prefix="precode-export-") as tmp:
        path = svc.export_qdpx(session=session, project=access.project,
                               path=Path(tmp) / "project.qdpx", selection=selection)
        content = path.read_bytes()
    return _attachment(content, "application/zip", f"project-{access.project.id}.qdpx")


@router.get("/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"example": (
                "unit,coder,code,origin,confidence,document,start,end,speaker,text,time_start,"
                "time_end,status,reviewer,suggested_at,decided_at\r\n"
                "interview-03.docx:412-530,amina,npt.coherence.communal_specification,"
                "human,0.6200,interview-03.docx,412,530,P3,We all sat down ...,,,accepted,"
                "amina,2026-03-02T09:01:12Z,2026-03-02T10:15:00Z\r\n")}},
                "description": "One row per unit, coder and code (an empty code: the coder saw "
                               "the unit and gave no code); `precode agree` reads it"}})
def export_csv(access: OwnerAccess, session: SessionDep, coder: Coder = None,
               consensus: Consensus = False, model: Model = None) -> Response:
    """One row per unit, coder and code, with its `status`, `reviewer` (who decided),
    `suggested_at` and `decided_at`. A coder's rows are what they accepted (an empty code: they
    saw the unit and accepted no code, `status` rejected when they rejected its suggestions);
    the model's rows are everything it suggested, each with what became of it (the consensus
    where set, else the latest decision), as `precode agree` compares the model as a rater. By
    default the model and every coder (the agreement report's data); `coder` or `consensus`
    ('precode consensus') export only those (add `model=true` for the model's too)."""
    selection = svc.Selection.of(coder=coder, consensus=consensus, model=model, qdpx=False)
    content = svc.export_csv(session=session, project=access.project,
                             selection=selection).encode("utf-8")
    return _attachment(content, "text/csv; charset=utf-8", f"project-{access.project.id}.csv")


@router.get("/agreement", responses={
    200: {"content": {"application/json": {"example": AGREEMENT_EXAMPLE}}},
    202: {"description": "Still being computed (a large project): ask again after "
                         "`Retry-After` seconds"}})
def get_agreement(
    access: ViewerAccess, session: SessionDep, request: Request,
    mode: Literal["multilabel", "nominal"] = "multilabel",
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal",
    bootstrap: Annotated[int, Query(ge=0, le=10_000, description="Bootstrap resamples for the "
                                                                 "intervals (0: none).")] = 1000,
    seed: Annotated[int, Query(ge=0, description="Seed of the bootstrap resampling.")] = 0,
) -> dict:
    """Agreement between the reviewers and the model (coder 'precode model'): the same report
    as `precode agree` on the CSV export, with the project's codebook, plus the disagreements.

    Kept until the project's data changes. A large project's report is computed in the
    background, with a time limit: the answer is then 202 with `Retry-After` until it is
    ready (asking again joins the same computation)."""
    from service.services.agreement_jobs import Params

    return _computed(access, session, request, Params(mode, level, bootstrap, seed))


@router.get("/agreement/pairs", responses={
    200: {"content": {"application/json": {"example": PAIRS_EXAMPLE}}},
    202: {"description": "Still being computed: ask again after `Retry-After` seconds"}})
def get_pairwise_agreement(
    access: ViewerAccess, session: SessionDep, request: Request,
    mode: Literal["multilabel", "nominal"] = "multilabel",
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal",
    bootstrap: Annotated[int, Query(ge=0, le=10_000, description="Bootstrap resamples for the "
                                                                 "intervals (0: none).")] = 0,
    seed: Annotated[int, Query(ge=0, description="Seed of the bootstrap resampling.")] = 0,
) -> dict:
    """Each coder against the model ('precode model') and against each other coder, overall
    and per code, from each coder's own decisions: for each pair, the figures `precode agree`
    gives on those two coders' rows of the CSV export (`kind`: model or coders; `error` where a
    pair has nothing to compare). Cached and computed like `/agreement`."""
    from service.services.agreement_jobs import Params

    return _computed(access, session, request,
                     Params(mode, level, bootstrap, seed, pairwise=True))


def _computed(access, session, request: Request, params) -> dict:
    from service.services.agreement_jobs import data_version
    from service.services.projects import project_codebook

    runner, settings = request.app.state.agreement, request.app.state.settings
    key = (access.project.id, data_version(session=session, project=access.project), params)
    done = runner.result(key)
    if done is None:
        future = runner.running(key)
        if future is None:
            codings = svc.project_codings(session=session, project=access.project)
            session.commit()  # no connection held while it is computed
            future = runner.submit(key, codings, project_codebook(access.project), params)
        try:
            done = future.result(timeout=settings.agreement_wait_seconds)
        except FutureTimeout:
            return JSONResponse({"status": "running", "detail": "the agreement is being "
                                 "computed; ask again shortly"}, status_code=202,
                                headers={"Retry-After": str(settings.retry_after_seconds)})
    status, value = done
    if status == "error":
        raise value
    if status == "too-long":
        raise Problem(422, "too-long", f"the agreement took longer than the limit of {value:g} s "
                                       "and was stopped; ask with fewer bootstrap resamples "
                                       "(bootstrap=0 for none), or run `precode agree` on the "
                                       "CSV export")
    return value
