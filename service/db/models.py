"""The tables, as SQLAlchemy 2 typed models.

Nothing a person decided is ever deleted: a suggestion keeps what the model said (``origin``
"model") or what a person added ("human"). Each coder's decisions are their own: the current one
of each person on each suggestion is a row of ``decisions``, and every decision ever taken is a
row of ``reviews`` with who and when. The project's consensus is set apart, by an owner, on the
suggestion (``consensus_*``). A suggestion's ``status``/``decided_code`` is the project's view,
what the model learns from: the consensus where set, else the latest decision of anyone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}

ROLES = ("viewer", "coder", "owner")  # each can do what the ones before it can
JOB_KINDS = ("precode", "retrain")
JOB_STATES = ("queued", "running", "succeeded", "failed")
STATUSES = ("pending", "accepted", "rejected", "changed", "superseded")
DECIDED = ("accepted", "rejected", "changed")  # what a decision can be


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict: JSON, list: JSON, datetime: DateTime(timezone=True)}


def _fk(target: str, **kw) -> Mapped:
    return mapped_column(ForeignKey(target), **kw)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """Only the SHA-256 of a token is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _fk("users.id", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # none: valid until revoked


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    codebook_source: Mapped[str] = mapped_column(String(300))
    codebook_yaml: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = _fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # blind coding: a coder sees the model's suggestions on a segment only once they coded it
    blind: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    user_id: Mapped[int] = _fk("users.id", index=True)
    role: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# rows that are "live": at most one of each per key (partial unique indexes, on SQLite and
# PostgreSQL alike)
ACTIVE_JOB = "status IN ('queued', 'running')"
LIVE_HUMAN_CODING = "origin = 'human' AND status != 'superseded'"


class Job(Base):
    __tablename__ = "jobs"
    # one queued or running job per project and kind
    __table_args__ = (Index("uq_jobs_active_project_kind", "project_id", "kind", unique=True,
                            sqlite_where=text(ACTIVE_JOB), postgresql_where=text(ACTIVE_JOB)),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    params: Mapped[dict] = mapped_column(default=dict)
    result: Mapped[dict] = mapped_column(default=dict)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[int] = _fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # the server process running the job, and until when its claim holds unless renewed
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]

    @property
    def progress(self) -> float:
        """Share done, from 0 to 1."""
        if self.status == "succeeded":
            return 1.0
        return min(self.done / self.total, 1.0) if self.total else 0.0


class ModelVersion(Base):
    """Version 0 is the model a project started from; a retraining writes version n+1 under
    ``PRECODE_HOME/projects/<id>/models/v<n>``. ``folded_review_id``: the reviews up to this id
    are in the model; later accepted codings are added to its exemplar index when it loads."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    version: Mapped[int]
    path: Mapped[str] = mapped_column(String(1000))
    folded_review_id: Mapped[int] = mapped_column(default=0)
    job_id: Mapped[int | None] = _fk("jobs.id")
    summary: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Upload(Base):
    """A file exactly as it was uploaded."""

    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    filename: Mapped[str] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[int] = _fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    """One text: a transcript, a segment table, or one text source of a .qdpx. ``text`` is what
    the segments' offsets point into."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    upload_id: Mapped[int] = _fk("uploads.id", index=True)
    name: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    n_segments: Mapped[int] = mapped_column(default=0)
    precoded_version_id: Mapped[int | None] = _fk("model_versions.id")
    precoded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("document_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = _fk("documents.id", index=True)
    position: Mapped[int]
    external_id: Mapped[str] = mapped_column(String(300))
    start: Mapped[int] = mapped_column("start_pos")
    end: Mapped[int] = mapped_column("end_pos")
    speaker: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    is_interviewer: Mapped[bool] = mapped_column(default=False)
    # a subtitle segment's media time in seconds; none for untimed text
    time_start: Mapped[float | None] = mapped_column(Float)
    time_end: Mapped[float | None] = mapped_column(Float)
    # the question the segment answers, from a segment table's own ``context`` column; none for
    # transcripts, whose question is the interviewer turn before the segment
    context: Mapped[str | None] = mapped_column(Text)


class Suggestion(Base):
    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_project_status", "project_id", "status"),
                      # one live coding a person added per (segment, code)
                      Index("uq_suggestions_live_human_coding", "segment_id", "code",
                            unique=True, sqlite_where=text(LIVE_HUMAN_CODING),
                            postgresql_where=text(LIVE_HUMAN_CODING)))
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id")
    segment_id: Mapped[int] = _fk("segments.id", index=True)
    code: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(10), default="model")  # model|human|imported
    confidence: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[list] = mapped_column(default=list)
    model_version_id: Mapped[int | None] = _fk("model_versions.id")
    job_id: Mapped[int | None] = _fk("jobs.id")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_code: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[int | None] = _fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the project's consensus, set by an owner as a step of its own (none: not settled)
    consensus_status: Mapped[str | None] = mapped_column(String(12))
    consensus_code: Mapped[str | None] = mapped_column(String(200))
    consensus_by: Mapped[int | None] = _fk("users.id")
    consensus_at: Mapped[datetime | None]


class Review(Base):
    """One decision: ``action`` accept, reject, change (to ``code``), add (a code the model
    missed), import (a coding read from an uploaded project file), consensus (an owner
    settling the project's decision) or undo (a person withdrawing their own decision: it is
    pending for them again); ``code`` is the code the segment carries after it (none after a
    rejection or an undo). For an import, ``reviewer_id`` is who
    uploaded the file and ``coder`` the person the file says coded it."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    suggestion_id: Mapped[int] = _fk("suggestions.id", index=True)
    reviewer_id: Mapped[int] = _fk("users.id")
    action: Mapped[str] = mapped_column(String(10))
    code: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    coder: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(Base):
    """A person's current decision on a suggestion (none: pending for them, or withdrawn by
    them with an ``undo`` review): ``status`` accepted, rejected or changed,
    ``code`` the code the segment carries for them after it (none after a rejection).
    ``coder`` is whose decision it is: the reviewer's own name, or for an imported coding the
    coder the project file names (``reviewer_id`` then is who uploaded it). ``review_id``: the
    latest ``reviews`` row that set it."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("suggestion_id", "reviewer_id", "coder"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    suggestion_id: Mapped[int] = _fk("suggestions.id", index=True)
    reviewer_id: Mapped[int] = _fk("users.id", index=True)
    coder: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12))
    code: Mapped[str | None] = mapped_column(String(200))
    review_id: Mapped[int] = _fk("reviews.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # the first decision
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)  # the latest


class CodedSegment(Base):
    """A person coded this segment themselves (a coding added, or marked done with none): in
    blind coding, the model's suggestions on it are shown to them from then on."""

    __tablename__ = "coded_segments"
    __table_args__ = (UniqueConstraint("segment_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    segment_id: Mapped[int] = _fk("segments.id", index=True)
    user_id: Mapped[int] = _fk("users.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Memo(Base):
    """A coder's note on a segment."""

    __tablename__ = "memos"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = _fk("projects.id", index=True)
    segment_id: Mapped[int] = _fk("segments.id", index=True)
    author_id: Mapped[int] = _fk("users.id")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """A review sent with an ``Idempotency-Key`` header: the same key from the same user again
    answers with what the first request recorded, and records nothing (a retry after a lost
    answer). ``request_hash`` tells a retry from another request reusing the key."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _fk("users.id")
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int] = _fk("projects.id", index=True)
    suggestion_id: Mapped[int] = _fk("suggestions.id")
    review_id: Mapped[int] = _fk("reviews.id")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
