"""Background jobs: pre-coding and retraining, with status and progress."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import (
    CurrentUser,
    OwnerAccess,
    PathId,
    SessionDep,
    ViewerAccess,
    WorkerDep,
)
from service.api.schemas import JobCreate, JobOut
from service.db.models import Job
from service.services import jobs as svc

router = APIRouter(prefix="/v1", tags=["jobs"])


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate(job)


@router.post("/projects/{project_id}/jobs", response_model=JobOut, status_code=202)
def create_job(body: JobCreate, access: OwnerAccess, session: SessionDep,
               worker: WorkerDep) -> JobOut:
    """Queue a job: ``precode`` suggests codes for the project's documents (those not pre-coded
    yet, unless ``redo``); ``retrain`` folds all reviews into a new model version (with
    ``recalibrate``, its confidences mapped on the reviewed segments). Follow it with
    GET /v1/jobs/{job_id}."""
    params = body.model_dump(exclude={"kind", "recalibrate"}, exclude_none=True)
    if body.kind == "retrain":
        params = {"recalibrate": body.recalibrate}
    job = svc.create_job(session=session, project=access.project, user=access.user,
                         kind=body.kind, params=params)
    worker.wake()
    return job_out(job)


@router.get("/projects/{project_id}/jobs", response_model=list[JobOut])
def list_jobs(access: ViewerAccess, session: SessionDep) -> list[JobOut]:
    """The project's jobs, newest first."""
    return [job_out(j) for j in svc.list_jobs(session=session, project=access.project)]


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: PathId, user: CurrentUser, session: SessionDep) -> JobOut:
    """A job's status and progress (``done`` of ``total``)."""
    return job_out(svc.get_job(session=session, user=user, job_id=job_id))
