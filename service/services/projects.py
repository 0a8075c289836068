"""Projects: access by role, the codebook, members and model versions."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from corpus.codebook import Codebook, builtin_names
from corpus.errors import CodebookError, PrecodeInputError
from service.db.models import ROLES, Membership, ModelVersion, Project, Suggestion, User
from service.problems import Problem, not_found

CODEBOOK_SUFFIXES = (".yaml", ".yml", ".qdc", ".csv")


@dataclass
class Access:
    project: Project
    user: User
    role: str


def require_project(*, session: Session, user: User, project_id: int,
                    role: str = "viewer") -> Access:
    """The project if ``user`` is a member with at least ``role``. A project the user does not
    belong to is "not found", so ids do not tell which projects exist."""
    row = session.execute(select(Project, Membership.role).join(
        Membership, Membership.project_id == Project.id).where(
        Project.id == project_id, Membership.user_id == user.id)).first()
    if row is None:
        raise not_found("project")
    project, have = row
    if ROLES.index(have) < ROLES.index(role):
        raise Problem(403, "forbidden", f"this needs the role {role} in the project (you are "
                                        f"{have})")
    return Access(project=project, user=user, role=have)


def list_projects(*, session: Session, user: User) -> list[tuple[Project, str]]:
    return list(session.execute(select(Project, Membership.role).join(
        Membership, Membership.project_id == Project.id).where(
        Membership.user_id == user.id).order_by(Project.id)))


# ---- codebook ---------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _codebook_from_yaml(text: str) -> Codebook:
    from corpus.codebook import read_yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codebook.yaml"
        path.write_text(text, encoding="utf-8")
        return read_yaml(path)


def project_codebook(project: Project) -> Codebook:
    return _codebook_from_yaml(project.codebook_yaml)


def builtin_codebook(spec: str) -> Codebook:
    """Only built-in names: a request never names a file on the server."""
    from corpus.codebook_files import load_codebooks

    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in builtin_names()]
    if unknown or not names:
        raise CodebookError(f"unknown built-in codebook {', '.join(unknown) or spec!r} (built-in: "
                            f"{', '.join(builtin_names())}; upload a file for your own)",
                            field="codebook")
    return load_codebooks(names)


def read_codebook_upload(filename: str, data: bytes) -> Codebook:
    from corpus.codebook_files import load_codebook

    suffix = Path(filename).suffix.lower()
    if suffix not in CODEBOOK_SUFFIXES:
        raise CodebookError(f"a codebook must be {', '.join(CODEBOOK_SUFFIXES)}",
                            source=filename)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"codebook{suffix}"
        path.write_bytes(data)
        try:
            book = load_codebook(path)
            book.validate()
        except PrecodeInputError as exc:
            raise type(exc)(exc.reason, source=filename, line=exc.line, field=exc.field
                            ) from None
    check_storable(book, filename)
    return book


def check_storable(book: Codebook, source: str) -> None:
    """Refuse (422) a codebook the database could not store: a NUL character, or a code id
    longer than the 200 characters a coding's code holds."""
    from corpus.codebook import to_yaml

    if "\x00" in to_yaml(book):
        raise CodebookError("the codebook holds a NUL character (\\u0000)", source=source,
                            field="codes")
    long = [code.id for code in book if len(code.id) > 200]
    if long:
        raise CodebookError(f"{len(long)} code id(s) longer than 200 characters, e.g. "
                            f"{long[0][:60]!r}...", source=source, field="codes")


def create_project(*, session: Session, user: User, name: str, codebook: Codebook,
                   codebook_source: str, model_path: Path) -> Project:
    from corpus.codebook import to_yaml

    project = Project(name=name, codebook_source=codebook_source,
                      codebook_yaml=to_yaml(codebook), created_by=user.id)
    session.add(project)
    session.flush()
    session.add(Membership(project_id=project.id, user_id=user.id, role="owner"))
    session.add(ModelVersion(project_id=project.id, version=0, path=str(model_path),
                             summary={"origin": "the service's model"}))
    session.commit()
    return project


def update_project(*, session: Session, project: Project, name: str | None = None,
                   blind: bool | None = None) -> Project:
    project = session.merge(project)
    if name is not None:
        project.name = name
    if blind is not None:
        project.blind = blind
    session.commit()
    return project


def replace_codebook(*, session: Session, project: Project, codebook: Codebook,
                     source: str) -> Project:
    """A new codebook, as long as it has every code already used in the project."""
    from corpus.codebook import to_yaml

    used = set(session.scalars(select(Suggestion.code).where(
        Suggestion.project_id == project.id).distinct()))
    missing = sorted(c for c in used if c not in codebook)
    if missing:
        raise CodebookError(f"the project already uses codes this codebook lacks: "
                            f"{', '.join(missing[:10])}", source=source, field="codes")
    project.codebook_yaml = to_yaml(codebook)
    project.codebook_source = source
    session.commit()
    return project


def check_code(project: Project, code: str, *, field: str = "code") -> str:
    """The id of the code ``code`` names in the project's codebook: its id or its label (case,
    spacing and Unicode form ignored); an unknown code is a 422 naming ``field``."""
    found = project_codebook(project).resolve(code)
    if found is None:
        raise PrecodeInputError(f"unknown code {code!r} (neither the id nor the label of a code "
                                "in the project's codebook)", field=field)
    return found


def lock_project(session: Session, project_id: int) -> None:
    """Begin a transaction holding the project's lock, for a change that checks the project's
    rows before it writes (its owners, its active jobs, its codings): concurrent changes of one
    project then run one after another and each sees what the one before wrote. PostgreSQL:
    the project's row, locked ``FOR UPDATE``; SQLite: the database's write lock, taken by the
    transaction's first statement (so that what it reads is never older than what it
    writes)."""
    if session.in_transaction():
        session.commit()  # what was read so far came before the lock: read again after it
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    else:
        session.execute(update(Project).where(Project.id == project_id)
                        .values(id=Project.id))


# ---- members ----------------------------------------------------------------------------------
def list_members(*, session: Session, project: Project) -> list[tuple[User, str]]:
    return list(session.execute(select(User, Membership.role).join(
        Membership, Membership.user_id == User.id).where(
        Membership.project_id == project.id).order_by(User.id)))


def _owners(session: Session, project: Project) -> int:
    return session.scalar(select(func.count()).select_from(Membership).where(
        Membership.project_id == project.id, Membership.role == "owner"))


def set_member(*, session: Session, project: Project, user: User, role: str) -> None:
    if role not in ROLES:
        raise PrecodeInputError(f"unknown role {role!r} (use {', '.join(ROLES)})", field="role")
    lock_project(session, project.id)  # two owners demoting each other: one of them is last
    row = session.scalar(select(Membership).where(Membership.project_id == project.id,
                                                  Membership.user_id == user.id))
    if row is None:
        session.add(Membership(project_id=project.id, user_id=user.id, role=role))
    else:
        if row.role == "owner" and role != "owner" and _owners(session, project) == 1:
            raise Problem(409, "conflict", "a project keeps at least one owner")
        row.role = role
    session.commit()


def remove_member(*, session: Session, project: Project, user_id: int) -> None:
    lock_project(session, project.id)
    row = session.scalar(select(Membership).where(Membership.project_id == project.id,
                                                  Membership.user_id == user_id))
    if row is None:
        raise not_found("member")
    if row.role == "owner" and _owners(session, project) == 1:
        raise Problem(409, "conflict", "a project keeps at least one owner")
    session.delete(row)
    session.commit()


# ---- model versions ---------------------------------------------------------------------------
def current_version(*, session: Session, project_id: int) -> ModelVersion:
    return session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project_id).order_by(ModelVersion.version.desc())).first()


def list_versions(*, session: Session, project: Project) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project.id).order_by(ModelVersion.version)))


def version_confidence(version: ModelVersion) -> dict:
    """What a model version's confidences were measured on, and any caution
    (``models.suggester.confidence_basis_of``); nothing when its folder is gone."""
    from models.suggester import confidence_basis_of

    try:
        return confidence_basis_of(version.path)
    except PrecodeInputError:
        return {}
