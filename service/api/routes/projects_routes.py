"""Projects: create and list them, their codebook, members and model versions."""

from __future__ import annotations

from fastapi import APIRouter, Response, UploadFile

from service.api.deps import (
    CurrentUser,
    OwnerAccess,
    PathId,
    SessionDep,
    SettingsDep,
    SuggesterDep,
    ViewerAccess,
)
from service.api.routes.documents_routes import read_limited
from service.api.schemas import (
    CodebookOut,
    CodeOut,
    MemberIn,
    MemberOut,
    ModelVersionOut,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)
from service.db.models import Project
from service.services import projects as svc
from service.services.users import find_user

router = APIRouter(prefix="/v1/projects", tags=["projects"])


def project_out(project: Project, role: str) -> ProjectOut:
    return ProjectOut(id=project.id, name=project.name, codebook_source=project.codebook_source,
                      role=role, created_at=project.created_at, blind=bool(project.blind))


@router.get("", response_model=list[ProjectOut])
def list_projects(session: SessionDep, user: CurrentUser) -> list[ProjectOut]:
    """The projects you belong to."""
    return [project_out(p, role) for p, role in svc.list_projects(session=session, user=user)]


@router.post("", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectCreate, session: SessionDep, user: CurrentUser,
                   suggester: SuggesterDep) -> ProjectOut:
    """A new project, owned by you, starting from the service's model."""
    book = svc.builtin_codebook(body.codebook) if body.codebook else suggester.codebook
    project = svc.create_project(session=session, user=user, name=body.name, codebook=book,
                                 codebook_source=body.codebook or "the model's codebook",
                                 model_path=suggester.path)
    return project_out(project, "owner")


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(access: ViewerAccess) -> ProjectOut:
    return project_out(access.project, access.role)


@router.patch("/{project_id}", response_model=ProjectOut)
def update_project(body: ProjectUpdate, access: OwnerAccess, session: SessionDep) -> ProjectOut:
    """Rename the project or turn blind coding on or off (owners). In blind coding a coder sees
    the model's suggestions on a segment only once they coded it themselves."""
    project = svc.update_project(session=session, project=access.project, name=body.name,
                                 blind=body.blind)
    return project_out(project, access.role)


def codebook_out(project: Project) -> CodebookOut:
    book = svc.project_codebook(project)
    return CodebookOut(id=book.id, label=book.label, source=project.codebook_source,
                       codes=[CodeOut.model_validate(c) for c in book.walk()])


@router.get("/{project_id}/codebook", response_model=CodebookOut)
def get_codebook(access: ViewerAccess) -> CodebookOut:
    """The project's codebook, as a list of codes in tree order."""
    return codebook_out(access.project)


@router.put("/{project_id}/codebook", response_model=CodebookOut)
async def put_codebook(file: UploadFile, access: OwnerAccess, session: SessionDep,
                       settings: SettingsDep) -> CodebookOut:
    """Replace the codebook with an uploaded one (.yaml, .qdc or .csv). It must keep every code
    the project already uses."""
    from starlette.concurrency import run_in_threadpool

    data = await read_limited(file, settings.max_upload_bytes)
    name = file.filename or "codebook"
    book = await run_in_threadpool(svc.read_codebook_upload, name, data)
    await run_in_threadpool(svc.replace_codebook, session=session, project=access.project,
                            codebook=book, source=f"upload: {name}")
    return codebook_out(access.project)


@router.get("/{project_id}/members", response_model=list[MemberOut])
def list_members(access: ViewerAccess, session: SessionDep) -> list[MemberOut]:
    return [MemberOut(user_id=u.id, name=u.name, role=role)
            for u, role in svc.list_members(session=session, project=access.project)]


@router.post("/{project_id}/members", response_model=list[MemberOut])
def set_member(body: MemberIn, access: OwnerAccess, session: SessionDep) -> list[MemberOut]:
    """Add a member or change their role (owners only)."""
    svc.set_member(session=session, project=access.project,
                   user=find_user(session=session, name=body.user), role=body.role)
    return list_members(access, session)


@router.delete("/{project_id}/members/{user_id}", status_code=204)
def remove_member(user_id: PathId, access: OwnerAccess, session: SessionDep) -> Response:
    """Take a member out of the project (their reviews stay)."""
    svc.remove_member(session=session, project=access.project, user_id=user_id)
    return Response(status_code=204)


@router.get("/{project_id}/models", response_model=list[ModelVersionOut])
def list_models(access: ViewerAccess, session: SessionDep) -> list[ModelVersionOut]:
    """The project's model versions: 0 is the model it started from; each retraining adds one."""
    versions = svc.list_versions(session=session, project=access.project)
    return [ModelVersionOut.model_validate(v).model_copy(
        update={"current": v is versions[-1], **svc.version_confidence(v)}) for v in versions]
