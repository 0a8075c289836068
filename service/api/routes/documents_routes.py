"""Documents: upload transcripts (stored as-is and segmented), read them and their segments."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from service.api.deps import ModelsDep, OwnerAccess, PathId, SessionDep, SettingsDep, ViewerAccess
from service.api.schemas import DocumentDetail, DocumentOut, DocumentSegment, UploadInfo, UploadOut
from service.problems import Problem
from service.services import documents as svc

router = APIRouter(prefix="/v1/projects/{project_id}", tags=["documents"])

FORMATS = ", ".join(svc.READABLE)


async def read_limited(file: UploadFile, limit: int) -> bytes:
    """The uploaded file's bytes, refused (413) past ``limit``."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, "too-large", f"the upload is larger than the limit of {limit:,} bytes")
    return data


@router.post("/documents", response_model=UploadOut, status_code=201,
)
async def upload(file: UploadFile, access: OwnerAccess, session: SessionDep,
                 settings: SettingsDep, models: ModelsDep,
                 codings: Annotated[Literal["import", "ignore"], Query(
                     description="A .qdpx project's codings: import them as accepted codings of "
                                 "their coders, or take the texts only.")] = "import",
                 unknown_codes: Annotated[Literal["error", "drop"], Query(
                     description="Codings with a code the project's codebook lacks: refuse the "
                                 "upload (naming the codes), or leave those codings out.")
                 ] = "error") -> UploadOut:
    data = await read_limited(file, settings.max_upload_bytes)
    stored, documents, notes = await run_in_threadpool(
        svc.store_upload, session=session, project=access.project, user=access.user,
        filename=file.filename or "upload", data=data, media_type=file.content_type,
        settings=settings, codings=codings, unknown_codes=unknown_codes)
    await run_in_threadpool(models.catch_up, access.project.id)  # imported codings: evidence now
    return UploadOut(upload=UploadInfo.model_validate(stored),
                     documents=[DocumentOut.model_validate(d) for d in documents], notes=notes)


upload.__doc__ = (f"Upload a transcript ({FORMATS}). The file is stored exactly as sent and cut "
                  "into segments; a .qdpx project gives one document per text source, and its "
                  "codings become accepted codings of the segments they cover, each under its "
                  "coder's name (codes matched to the project's codebook by id, else by name). "
                  "`notes` says what was imported or left out.")


@router.get("/documents", response_model=list[DocumentOut])
def list_documents(access: ViewerAccess, session: SessionDep) -> list[DocumentOut]:
    return [DocumentOut.model_validate(d)
            for d in svc.list_documents(session=session, project=access.project)]


@router.get("/documents/{document_id}", response_model=DocumentDetail)
def get_document(document_id: PathId, access: ViewerAccess, session: SessionDep) -> DocumentDetail:
    """A document with its text."""
    return DocumentDetail.model_validate(
        svc.get_document(session=session, project=access.project, document_id=document_id))


@router.get("/documents/{document_id}/segments", response_model=list[DocumentSegment])
def list_segments(document_id: PathId, access: ViewerAccess, session: SessionDep
                  ) -> list[DocumentSegment]:
    """The document's segments in text order; offsets point into the document's text."""
    doc = svc.get_document(session=session, project=access.project, document_id=document_id)
    return [DocumentSegment.model_validate(s) for s in svc.list_segments(session=session, document=doc)]


@router.get("/uploads/{upload_id}/raw", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "The file exactly as it was uploaded"}})
def get_upload(upload_id: PathId, access: ViewerAccess, session: SessionDep) -> Response:
    """The uploaded file, byte for byte."""
    stored = svc.get_upload(session=session, project=access.project, upload_id=upload_id)
    return Response(stored.raw, media_type=stored.media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(stored.filename)}"})
