"""Jobs across restarts and server processes: a pre-coding job resumes where it stopped, a
retraining job is marked failed with the reason, a job another live process holds is left to it,
a process that lost its claim writes nothing, and a document's suggestions are written whole or
not at all."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from service.api.app import create_app
from service.db.models import Document, Job, Suggestion
from service.services import jobs as job_service
from tests.service.conftest import (
    CSV_TABLE,
    TRANSCRIPT,
    api_for,
    fresh_database,
    make_settings,
    new_project,
)


@pytest.fixture
def db(backend, tmp_path):
    with fresh_database(backend, tmp_path) as url:
        yield url


@contextmanager
def running_app(db, tmp_path, suggester, *, workers: int):
    settings = make_settings(tmp_path / "home", db, job_workers=workers)
    app = create_app(settings, suggester=suggester)
    with TestClient(app) as client:
        app.state.client = client
        yield app


def project_with_documents(app):
    owner = api_for(app, "owner")
    pid = new_project(owner)
    for name, data in (("falls.txt", TRANSCRIPT), ("table.csv", CSV_TABLE)):
        assert owner.upload(pid, name, data.encode()).status_code == 201
    return owner, pid


def set_status(app, job_id: int, status: str) -> None:
    with app.state.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status))


def suggestions_per_document(app) -> dict[int, int]:
    from service.db.models import Segment

    with app.state.sessions() as session:
        rows = session.execute(select(Segment.document_id, func.count(Suggestion.id))
                               .join(Suggestion, Suggestion.segment_id == Segment.id)
                               .group_by(Segment.document_id))
        return {doc: n for doc, n in rows}


def test_precode_resumes_after_a_restart(db, tmp_path, tiny_suggester, monkeypatch):
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        owner, pid = project_with_documents(app)
        job_id = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "precode"}).json()["id"]
        ctx = app.state.worker.ctx
        real = job_service._precode_document

        def one_then_stop(ctx, *args):
            real(ctx, *args)
            ctx.stop.set()

        monkeypatch.setattr(job_service, "_precode_document", one_then_stop)
        with app.state.sessions() as session:
            assert job_service.claim_next(session=session, ctx=ctx) == job_id
        assert job_service.run_job(ctx, job_id) == ("precode", "queued")
        monkeypatch.undo()
        half = owner.get(f"/v1/jobs/{job_id}").json()
        assert (half["status"], half["done"], half["total"]) == ("queued", 1, 2)
        first_done = suggestions_per_document(app)
        set_status(app, job_id, "running")  # as a crash would leave it
    with running_app(db, tmp_path, tiny_suggester, workers=1) as app:
        owner = owner.__class__(app.state.client, owner.headers["Authorization"][7:], owner.name)
        job = owner.wait_job(job_id)
        assert (job["status"], job["done"], job["progress"]) == ("succeeded", 2, 1.0)
        assert job["message"] == "2 of 2 document(s) done"
        after = suggestions_per_document(app)
        for doc, n in first_done.items():
            assert after[doc] == n  # the document done before the restart was not done again


def test_retrain_interrupted_by_a_restart_fails_with_the_reason(db, tmp_path, tiny_suggester):
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        owner, pid = project_with_documents(app)
        job_id = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "retrain"}).json()["id"]
        assert owner.post(f"/v1/projects/{pid}/jobs",
                          json={"kind": "retrain"}).status_code == 409
        set_status(app, job_id, "running")
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        with app.state.sessions() as session:
            job = session.get(Job, job_id)
            assert (job.status, job.error) == ("failed", job_service.INTERRUPTED)
            assert job.finished_at is not None
        metrics = app.state.client.get("/metrics").text
        assert 'precode_jobs{kind="retrain",status="failed"} 1.0' in metrics


def test_a_document_is_written_whole_or_not_at_all(db, tmp_path, tiny_suggester, monkeypatch):
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        owner, pid = project_with_documents(app)
        job_id = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "precode"}).json()["id"]
        calls = []

        def fail_once():  # fails while the first document's rows are being written
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("disk full")
            from service.db.models import utcnow

            return utcnow()

        with app.state.sessions() as session:
            job_service.claim_next(session=session, ctx=app.state.worker.ctx)
        monkeypatch.setattr(job_service, "utcnow", fail_once)  # after the rows were added
        assert job_service.run_job(app.state.worker.ctx, job_id) == ("precode", "failed")
        job = owner.get(f"/v1/jobs/{job_id}").json()
        assert job["error"].startswith("internal error (RuntimeError)")
        assert suggestions_per_document(app) == {}
        with app.state.sessions() as session:
            assert all(d.precoded_at is None for d in session.scalars(select(Document)))


def set_lease(app, job_id: int, owner: str, seconds: float) -> None:
    from datetime import timedelta

    from service.db.models import utcnow

    with app.state.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            status="running", lease_owner=owner, lease_expires_at=utcnow() + timedelta(
                seconds=seconds)))


def job_row(app, job_id: int) -> Job:
    with app.state.sessions() as session:
        return session.get(Job, job_id)


def test_a_job_another_live_process_holds_is_left_to_it(db, tmp_path, tiny_suggester):
    """A second server process starting up does not take a job over while its holder's lease
    runs; once the lease has run out (the holder stopped renewing it), it does."""
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        owner, pid = project_with_documents(app)
        job_id = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "retrain"}).json()["id"]
        set_lease(app, job_id, "another-host:4242:abcd", seconds=300)
    with running_app(db, tmp_path, tiny_suggester, workers=1) as app:
        app.state.worker.recover()
        assert (job_row(app, job_id).status, job_row(app, job_id).lease_owner) == (
            "running", "another-host:4242:abcd")
        set_lease(app, job_id, "another-host:4242:abcd", seconds=-1)  # it stopped renewing
        app.state.worker.recover()
        job = job_row(app, job_id)
        assert (job.status, job.error, job.lease_owner) == ("failed", job_service.INTERRUPTED,
                                                            None)


def test_a_stopped_process_on_this_host_is_taken_over_at_once(db, tmp_path, tiny_suggester):
    import socket
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()  # its pid now names a process that no longer runs
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        owner, pid = project_with_documents(app)
        job_id = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "precode"}).json()["id"]
        set_lease(app, job_id, f"{socket.gethostname()}:{proc.pid}:dead", seconds=300)
    with running_app(db, tmp_path, tiny_suggester, workers=1) as app:
        owner = owner.__class__(app.state.client, owner.headers["Authorization"][7:], owner.name)
        job = owner.wait_job(job_id, timeout=60)
        assert (job["status"], job["done"]) == ("succeeded", 2)


def claimed_precode_job(app):
    """A pre-coding job this app's process has claimed (and does not run on its own)."""
    owner, pid = project_with_documents(app)
    job_id = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "precode"}).json()["id"]
    ctx = app.state.worker.ctx
    with app.state.sessions() as session:
        assert job_service.claim_next(session=session, ctx=ctx) == job_id
    return job_id, ctx


def test_a_process_that_lost_its_claim_writes_nothing(db, tmp_path, tiny_suggester):
    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        job_id, ctx = claimed_precode_job(app)
        assert job_row(app, job_id).lease_owner == ctx.owner
        set_lease(app, job_id, "another-host:1:took-over", seconds=300)  # presumed this one gone
        assert job_service.run_job(ctx, job_id) == ("precode", "lost")
        assert suggestions_per_document(app) == {}
        job = job_row(app, job_id)
        assert (job.status, job.lease_owner, job.done) == ("running", "another-host:1:took-over",
                                                           0)


def test_leases_are_renewed_while_a_job_runs(db, tmp_path, tiny_suggester):
    from service.db.models import utcnow

    with running_app(db, tmp_path, tiny_suggester, workers=0) as app:
        job_id, ctx = claimed_precode_job(app)
        set_lease(app, job_id, ctx.owner, seconds=1)
        with app.state.sessions() as session:
            assert job_service.renew_leases(session=session, ctx=ctx) == 1
        expires = job_service._aware(job_row(app, job_id).lease_expires_at)
        assert (expires - utcnow()).total_seconds() > ctx.settings.job_lease_seconds - 5
