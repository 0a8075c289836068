"""Background jobs: pre-coding a project's documents and retraining its model.

A job's row holds its state and progress. Pre-coding writes each document's suggestions in one
transaction together with the job's progress, so a job stopped at any point has whole documents
done and resumes with the next one. Retraining writes the new model version's directory whole
(``training.train``) before its row is added.

Several server processes may share the queue. A process claims a job with a lease (its name and
an expiry it renews while the job runs); every write of results checks that the lease is still
its own, so a job is never carried on by two processes at once. A job whose process stopped is
taken over when its lease runs out, or at once when that process is known to be gone (one of
this host's, no longer running): pre-coding resumes, retraining is marked failed with the reason.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from threading import Event

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt, context_meta, context_of
from corpus.segment import contexts_for
from models.index import read_exemplars
from service.db.models import (
    JOB_KINDS,
    Document,
    Job,
    Membership,
    ModelVersion,
    Project,
    Segment,
    Suggestion,
    User,
    utcnow,
)
from service.problems import Problem, not_found
from service.services.documents import get_document, list_segments, segment_contexts
from service.services.project_models import SEGMENT_PREFIX, ProjectModels, exemplar_id
from service.services.projects import current_version, lock_project, project_codebook
from service.services.reviews import decided_codes, review_mark
from service.settings import Settings

log = logging.getLogger("precode.service")

RESUMABLE = {"precode"}
INTERRUPTED = "interrupted: the server process running it stopped"


class Interrupted(Exception):
    """The service is stopping; the job goes back to the queue."""


class LeaseLost(Exception):
    """Another process took the job over (this one was presumed gone): write nothing more."""


def process_name() -> str:
    """``host:pid:random``: who holds a job's lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class JobContext:
    sessions: sessionmaker[Session]
    settings: Settings
    models: ProjectModels
    stop: Event = field(default_factory=Event)
    owner: str = field(default_factory=process_name)

    def lease_until(self):
        return utcnow() + timedelta(seconds=self.settings.job_lease_seconds)


# ---- creating and reading ---------------------------------------------------------------------
def create_job(*, session: Session, project: Project, user: User, kind: str,
               params: dict) -> Job:
    if kind not in JOB_KINDS:
        raise PrecodeInputError(f"unknown job kind {kind!r} (use {', '.join(JOB_KINDS)})",
                                field="kind")
    lock_project(session, project.id)  # one queued or running job per project and kind
    active = session.scalar(select(Job.id).where(Job.project_id == project.id, Job.kind == kind,
                                                 Job.status.in_(("queued", "running"))))
    if active is not None:
        raise Problem(409, "conflict", f"job {active} of this kind is still queued or running")
    if kind == "precode":
        params = _precode_params(session, project, params)
        if params.get("ray_address") and params.get("engine") != "ray":
            raise PrecodeInputError("needs engine 'ray'", field="ray_address")
        if params.get("engine") == "ray":
            from service.ray_engine import require_ray

            require_ray(field="engine")  # said now, not when the job runs
    job = Job(project_id=project.id, kind=kind, params=params, created_by=user.id,
              total=len(params.get("document_ids", [])) or 1)
    session.add(job)
    session.commit()
    return job


def _precode_params(session: Session, project: Project, params: dict) -> dict:
    ids = params.get("document_ids")
    if ids is None:
        ids = list(session.scalars(select(Document.id).where(Document.project_id == project.id)
                                   .order_by(Document.id)))
    for document_id in ids:
        get_document(session=session, project=project, document_id=document_id)
    if not ids:
        raise PrecodeInputError("the project has no documents to pre-code: upload some first",
                                field="document_ids")
    return {**params, "document_ids": list(dict.fromkeys(ids))}


def get_job(*, session: Session, user: User, job_id: int) -> Job:
    """The job, if ``user`` belongs to its project ("not found" otherwise)."""
    job = session.get(Job, job_id)
    member = job and session.scalar(select(Membership.id).where(
        Membership.project_id == job.project_id, Membership.user_id == user.id))
    if not member:
        raise not_found("job")
    return job


def list_jobs(*, session: Session, project: Project) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.project_id == project.id)
                                .order_by(Job.id.desc())))


def count_jobs(*, session: Session) -> Counter:
    rows = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind,
                                                                               Job.status))
    return Counter({(kind, status): n for kind, status, n in rows})


# ---- the queue --------------------------------------------------------------------------------
def _holder_is_gone(holder: str | None, me: str) -> bool:
    """True when the lease holder is known to have stopped: no holder, or a process of this
    host that no longer runs (an earlier process with this one's pid included)."""
    if not holder:
        return True
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if holder == me or host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) == os.getpid() or not process_exists(int(pid))


def process_exists(pid: int) -> bool:
    """Whether a process of this machine has this pid (on doubt, or off POSIX: True)."""
    if os.name != "posix":
        return True  # there, os.kill would end the process rather than ask about it
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def recover_interrupted(*, session: Session, me: str) -> list[tuple[int, str]]:
    """Running jobs whose process stopped (lease run out, or holder known gone) go back to the
    queue when they can resume, else fail with the reason. Returns (job id, new status)."""
    now = utcnow()
    out = []
    for job in session.scalars(select(Job).where(Job.status == "running")).all():
        expired = job.lease_expires_at is None or _aware(job.lease_expires_at) < now
        if not (expired or _holder_is_gone(job.lease_owner, me)):
            continue
        # conditional: a holder that renewed meanwhile keeps its job
        still = (Job.lease_expires_at.is_(None) | (Job.lease_expires_at < now)) if expired else \
            (Job.lease_owner == job.lease_owner)
        if job.kind in RESUMABLE:
            values = {"status": "queued", "message": "resumed after an interruption"}
        else:
            values = {"status": "failed", "error": INTERRUPTED, "finished_at": now}
        done = session.execute(update(Job).where(Job.id == job.id, Job.status == "running", still)
                               .values(lease_owner=None, lease_expires_at=None, **values)
                               .execution_options(synchronize_session=False))
        if done.rowcount == 1:
            out.append((job.id, values["status"]))
    session.commit()
    return out


def _aware(when):
    """SQLite gives back naive datetimes; every time stored is UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def claim_next(*, session: Session, ctx: JobContext) -> int | None:
    """Claim the oldest queued job for this process (with a lease) and return its id; None
    when there is none. The conditional update makes sure two processes never take the same
    job."""
    while True:
        job_id = session.scalar(select(Job.id).where(Job.status == "queued").order_by(Job.id)
                                .limit(1))
        if job_id is None:
            return None
        claimed = session.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                                  .values(status="running", started_at=utcnow(), error=None,
                                          attempts=Job.attempts + 1, lease_owner=ctx.owner,
                                          lease_expires_at=ctx.lease_until()))
        session.commit()
        if claimed.rowcount == 1:
            return job_id


def renew_leases(*, session: Session, ctx: JobContext) -> int:
    """Extend the leases of the jobs this process runs; returns how many."""
    done = session.execute(update(Job).where(Job.lease_owner == ctx.owner,
                                             Job.status == "running")
                           .values(lease_expires_at=ctx.lease_until()))
    session.commit()
    return done.rowcount


def hold(session: Session, ctx: JobContext, job_id: int) -> Job:
    """Inside a transaction that writes results: check the job is still this process's (and
    renew its lease), else raise LeaseLost so that the transaction writes nothing."""
    held = session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == ctx.owner,
                                             Job.status == "running")
                           .values(lease_expires_at=ctx.lease_until())
                           .execution_options(synchronize_session=False))
    if held.rowcount != 1:
        raise LeaseLost
    return session.get(Job, job_id)


def finish(*, ctx: JobContext, job_id: int, status: str, error: str | None = None,
           message: str | None = None) -> bool:
    """End this process's run of a job (back to the queue, failed or succeeded) and give up its
    lease; False when the job was no longer this process's."""
    values = {"status": status, "error": error, "lease_owner": None, "lease_expires_at": None}
    if message is not None:
        values["message"] = message
    if status in ("succeeded", "failed"):
        values["finished_at"] = utcnow()
    with ctx.sessions.begin() as session:
        done = session.execute(update(Job).where(Job.id == job_id, Job.lease_owner == ctx.owner)
                               .values(**values))
    return done.rowcount == 1


def run_job(ctx: JobContext, job_id: int) -> tuple[str, str]:
    """Run one claimed job to its end; returns its kind and final status."""
    with ctx.sessions() as session:
        kind = session.get(Job, job_id).kind
    try:
        RUNNERS[kind](ctx, job_id)
    except LeaseLost:
        log.warning("job %s was taken over by another process; this one stops it", job_id)
        return kind, "lost"
    except Interrupted:
        finish(ctx=ctx, job_id=job_id, status="queued",
               message="paused by a shutdown; resumes at the next start")
        return kind, "queued"
    except PrecodeInputError as exc:
        finish(ctx=ctx, job_id=job_id, status="failed", error=str(exc))
        return kind, "failed"
    except Exception as exc:  # noqa: BLE001 - a job must end, whatever went wrong
        # the type and where, never the message: it may quote interview text
        log.error("job %s (%s) failed: %s\n%s", job_id, kind, type(exc).__name__,
                  "".join(traceback.format_tb(exc.__traceback__)))
        finish(ctx=ctx, job_id=job_id, status="failed",
               error=f"internal error ({type(exc).__name__}); the server log has more")
        return kind, "failed"
    if not finish(ctx=ctx, job_id=job_id, status="succeeded"):
        return kind, "lost"
    return kind, "succeeded"


# ---- pre-coding -------------------------------------------------------------------------------
def run_precode(ctx: JobContext, job_id: int) -> None:
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        project_id, params = job.project_id, dict(job.params)
        done = set(job.result.get("done", []))
        book = project_codebook(session.get(Project, project_id))
    if params.get("engine") == "ray":
        _precode_on_ray(ctx, job_id, project_id, [d for d in params["document_ids"]
                                                  if d not in done], params, book)
        return
    for document_id in params["document_ids"]:
        if document_id in done:
            continue
        if ctx.stop.is_set():
            raise Interrupted
        _precode_document(ctx, job_id, project_id, document_id, params, book)


def _segments_to_code(ctx: JobContext, document_id: int, params: dict
                      ) -> tuple[bool, list[Segment], list[str | None]]:
    """Whether the document is skipped (pre-coded before, no ``redo``), its segments to code,
    and the question each answers (``corpus.segment.contexts_for``)."""
    with ctx.sessions() as session:
        doc = session.get(Document, document_id)
        skip = doc.precoded_at is not None and not params.get("redo", False)
        every = [] if skip else list_segments(session=session, document=doc)
    asked = contexts_for(every, document=lambda seg: seg.document_id)
    coded = [i for i, s in enumerate(every) if not s.is_interviewer]
    return skip, [every[i] for i in coded], [asked.get(i) for i in coded]


def _precode_document(ctx: JobContext, job_id: int, project_id: int, document_id: int,
                      params: dict, book: Codebook) -> None:
    skip, segments, contexts = _segments_to_code(ctx, document_id, params)
    held, results = ctx.models.suggest(
        project_id, [s.text for s in segments], min_confidence=params.get("min_confidence"),
        top_k=params.get("top_k"), n_evidence=params.get("n_evidence", 3), contexts=contexts)
    _write_document(ctx, job_id, project_id, document_id, params, book, skip=skip,
                    segments=segments, version_id=held.version_id, results=results)


def _precode_on_ray(ctx: JobContext, job_id: int, project_id: int, document_ids: list[int],
                    params: dict, book: Codebook) -> None:
    """The same documents coded by a pool of Ray actors (``service.ray_engine``), from a copy of
    the project's model as it stands when the job starts (saved under ``PRECODE_HOME``, which a
    multi-node cluster must share). Each document is written as it comes back, as above."""
    import shutil

    from service.batch import PrecodeOptions
    from service.ray_engine import RayOptions, suggest_on_ray

    work = [(document_id, *_segments_to_code(ctx, document_id, params))
            for document_id in document_ids]
    snapshot = ctx.settings.home / "ray" / f"job-{job_id}-{uuid.uuid4().hex[:8]}"
    with ctx.models.lock(project_id):
        held = ctx.models.get(project_id)
        held.suggester.copy().save(snapshot)
    try:
        options = PrecodeOptions(min_confidence=params.get("min_confidence"),
                                 top_k=params.get("top_k"), n_evidence=params.get("n_evidence", 3))
        for i, results in suggest_on_ray(snapshot, [[s.text for s in segments]
                                                    for _, _, segments, _ in work], options,
                                         RayOptions(address=params.get("ray_address")),
                                         contexts=[contexts for *_, contexts in work]):
            if ctx.stop.is_set():
                raise Interrupted
            document_id, skip, segments, _ = work[i]
            _write_document(ctx, job_id, project_id, document_id, params, book, skip=skip,
                            segments=segments, version_id=held.version_id, results=results)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)


def _write_document(ctx: JobContext, job_id: int, project_id: int, document_id: int,
                    params: dict, book: Codebook, *, skip: bool, segments: list[Segment],
                    version_id: int, results: list) -> None:
    with ctx.sessions.begin() as session:  # the document's suggestions and progress, or nothing
        job = hold(session, ctx, job_id)
        rows = [] if skip else _suggestion_rows(project_id, job_id, version_id, segments,
                                                results, book)
        if not skip:
            _supersede_pending(session, document_id)
            session.add_all(rows)
            doc = session.get(Document, document_id)
            doc.precoded_version_id, doc.precoded_at = version_id, utcnow()
        result = dict(job.result)
        result["done"] = [*result.get("done", []), document_id]
        result["skipped"] = result.get("skipped", 0) + skip
        result["suggestions"] = result.get("suggestions", 0) + len(rows)
        job.result, job.done = result, len(result["done"])
        job.message = f"{job.done} of {job.total} document(s) done"


def _suggestion_rows(project_id: int, job_id: int, version_id: int, segments: list[Segment],
                     results: list, book: Codebook) -> list[Suggestion]:
    return [Suggestion(project_id=project_id, segment_id=seg.id, code=s.code, origin="model",
                       confidence=s.confidence, threshold=s.threshold,
                       evidence=s.to_dict()["evidence"], model_version_id=version_id,
                       job_id=job_id)
            for seg, res in zip(segments, results, strict=True)
            for s in res.suggestions if s.code in book]


def _supersede_pending(session: Session, document_id: int) -> None:
    """A document pre-coded again: its earlier, still pending model suggestions are kept but
    marked superseded (reviewed ones stay as they are)."""
    segment_ids = select(Segment.id).where(Segment.document_id == document_id)
    session.execute(update(Suggestion).where(Suggestion.segment_id.in_(segment_ids),
                                             Suggestion.origin == "model",
                                             Suggestion.status == "pending")
                    .values(status="superseded"))


# ---- retraining -------------------------------------------------------------------------------
def _base_excerpts(model_dir: Path, book: Codebook) -> list[Excerpt]:
    """The model's own exemplars (its training data), without earlier project codings (those
    come fresh from the reviews) and with codes outside ``book`` left out."""
    out = []
    for ex in read_exemplars(model_dir):
        if str(ex.id or "").startswith(SEGMENT_PREFIX):
            continue
        codes = tuple(c for c in ex.codes if c in book)
        if codes or not ex.codes:
            out.append(Excerpt(text=ex.text, codes=codes, id=ex.id,
                               meta=context_meta(context_of(ex))))
    return out


def _progress(ctx: JobContext, job_id: int, done: int, message: str, total: int | None = None
              ) -> None:
    with ctx.sessions.begin() as session:
        job = hold(session, ctx, job_id)
        job.done, job.message = done, message
        if total is not None:
            job.total = total


def run_retrain(ctx: JobContext, job_id: int) -> None:
    """Fold every review into a new model version. With ``recalibrate`` (the default) and enough
    reviewed segments, the new version's confidences are mapped on those segments, scored out of
    fold, so that they mean on the project's own speech what they say, and it abstains where it
    cannot do better than the project's base rate (``training.recalibration``)."""
    from training.recalibration import refit_recalibrated

    if ctx.stop.is_set():
        raise Interrupted
    _progress(ctx, job_id, 0, "collecting the reviews")
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        project_id, recalibrate = job.project_id, (job.params or {}).get("recalibrate", True)
        book = project_codebook(session.get(Project, project_id))
        base = current_version(session=session, project_id=project_id)
        watermark, n_reviews = review_mark(session=session, project_id=project_id)
        codes = decided_codes(session=session, project_id=project_id)
        rows = session.execute(select(Segment.id, Segment.text)
                               .where(Segment.id.in_(list(codes))))
        texts = {segment_id: text for segment_id, text in rows}
        questions = segment_contexts(session=session, segment_ids=list(codes))
        rejected: dict[str, list[str]] = {}
        for segment_id, code in session.execute(
                select(Suggestion.segment_id, Suggestion.code)
                .where(Suggestion.project_id == project_id, Suggestion.status == "rejected",
                       Suggestion.segment_id.in_(list(codes)))):
            if code in book:
                rejected.setdefault(exemplar_id(segment_id), []).append(code)
    reviewed = [Excerpt(text=texts[sid], codes=tuple(c for c in cs if c in book),
                        id=exemplar_id(sid),
                        meta=context_meta(questions.get(sid)))
                for sid, cs in sorted(codes.items())]
    base_excerpts = _base_excerpts(Path(base.path), book)
    out = ctx.settings.home / "projects" / str(project_id) / "models" / f"v{base.version + 1}"
    _progress(ctx, job_id, 1, f"refitting on {len(base_excerpts) + len(reviewed)} excerpts "
                              f"({len(reviewed)} reviewed segments)", total=3)

    def stage(msg: str) -> None:
        log.info("job %s: %s", job_id, msg)
        if msg.startswith("scoring reviewed segments"):
            _progress(ctx, job_id, 2, msg)

    if recalibrate:
        _, report = refit_recalibrated(base.path, base_excerpts, reviewed, out, codebook=book,
                                       rejected=rejected, stage=stage)
    else:
        from training.train import refit_model

        refit_model(base.path, base_excerpts + reviewed, out, codebook=book, stage=stage)
        report = None
    summary = {"from_version": base.version, "n_reviews": n_reviews,
               "n_excerpts": len(base_excerpts) + len(reviewed),
               "n_reviewed_segments": len(reviewed)}
    if report is not None:
        summary["recalibration"] = {"n_segments": report.n_excerpts,
                                    "ece_before": report.before["ece"],
                                    "ece_after": report.after["ece"],
                                    "suggested_share_after": report.after["suggested_share"],
                                    "precision_after": report.after["precision"]}
    with ctx.sessions.begin() as session:
        job = hold(session, ctx, job_id)
        session.add(ModelVersion(project_id=project_id, version=base.version + 1, path=str(out),
                                 folded_review_id=watermark, job_id=job_id, summary=summary))
        job.done, job.message = 3, f"model version {base.version + 1} ready"
        job.result = {"version": base.version + 1, **{k: v for k, v in summary.items()
                                                       if k != "from_version"}}


RUNNERS = {"precode": run_precode, "retrain": run_retrain}
