"""Exports (.qdpx, CSV) and the agreement between reviewers and the model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from service.api.deps import OwnerAccess, SessionDep, ViewerAccess
from service.api.schemas import AGREEMENT_EXAMPLE
from service.services import exports as svc

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["exports"])


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/export.qdpx", response_class=Response,
            responses={200: {"content": {"application/zip": {}},
                             "description": "A REFI-QDA project (NVivo, ATLAS.ti, MAXQDA, "
                                            "QualCoder): the documents, the codebook, and the "
                                            "codings with each reviewer and the model "
                                            "('precode model') as separate users"}})
def export_qdpx(access: OwnerAccess, session: SessionDep) -> Response:
    with tempfile.TemporaryDirectory(prefix="precode-export-") as tmp:
        path = svc.export_qdpx(session=session, project=access.project,
                               path=Path(tmp) / "project.qdpx")
        content = path.read_bytes()
    return _attachment(content, "application/zip", f"project-{access.project.id}.qdpx")


@router.get("/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {"example": (
                "unit,coder,code,origin,confidence,document,start,end,speaker,text\r\n"
                "interview-03.docx:412-530,precode model,npt.coherence.communal_specification,"
                "model,0.6200,interview-03.docx,412,530,P3,We all sat down ...\r\n")}},
                "description": "One row per unit, coder and code (an empty code: the coder saw "
                               "the unit and gave no code); `precode agree` reads it"}})
def export_csv(access: OwnerAccess, session: SessionDep) -> Response:
    content = svc.export_csv(session=session, project=access.project).encode("utf-8")
    return _attachment(content, "text/csv; charset=utf-8", f"project-{access.project.id}.csv")


@router.get("/agreement", responses={200: {"content": {"application/json": {
    "example": AGREEMENT_EXAMPLE}}}})
def get_agreement(
    access: ViewerAccess, session: SessionDep,
    mode: Literal["multilabel", "nominal"] = "multilabel",
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal",
    bootstrap: Annotated[int, Query(ge=0, le=10_000, description="Bootstrap resamples for the "
                                                                 "intervals (0: none).")] = 1000,
    seed: Annotated[int, Query(ge=0, description="Seed of the bootstrap resampling.")] = 0,
) -> dict:
    """Agreement between the reviewers and the model (coder 'precode model'): the same report
    as `precode agree` on the CSV export, with the project's codebook, plus the disagreements."""
    return svc.agreement(session=session, project=access.project, mode=mode, level=level,
                         bootstrap=bootstrap, seed=seed)
