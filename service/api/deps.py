"""Dependency aliases for the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from models.suggester import Suggester
from service.api.schemas import MAX_ID
from service.db.models import ApiToken, User
from service.problems import Problem
from service.services.project_models import ProjectModels
from service.services.projects import Access, require_project
from service.services.users import token_row
from service.settings import Settings
from service.worker import JobWorker

# an id in the path, or an optional one to filter by (ids past MAX_ID are refused: 422)
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

bearer = HTTPBearer(auto_error=False, scheme_name="token",
                    description="An API token: `precode users create NAME` prints the first one.")


def not_ready(request: Request) -> Problem:
    """503 while the server's model is still being built or loaded (``/readyz`` says how far
    along), with the Retry-After of the settings."""
    loader = getattr(request.app.state, "loader", None)
    state = loader.state() if loader is not None else {"status": "loading the model"}
    detail = f"not ready yet: {state['status']}"
    if state.get("progress") is not None:
        detail += f" ({state['progress']:.0%})"
    return Problem(503, "not-ready", detail + "; try again shortly (GET /readyz says how far along)",
                   headers={"Retry-After": str(request.app.state.settings.retry_after_seconds)})


def get_suggester(request: Request) -> Suggester:
    suggester = getattr(request.app.state, "suggester", None)
    if suggester is None:
        raise not_ready(request)
    return suggester


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_models(request: Request) -> ProjectModels:
    if getattr(request.app.state, "suggester", None) is None:
        raise not_ready(request)
    return request.app.state.models


def get_worker(request: Request) -> JobWorker:
    if getattr(request.app.state, "suggester", None) is None:
        raise not_ready(request)
    return request.app.state.worker


SuggesterDep = Annotated[Suggester, Depends(get_suggester)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ModelsDep = Annotated[ProjectModels, Depends(get_models)]
WorkerDep = Annotated[JobWorker, Depends(get_worker)]


def current_token(request: Request, session: SessionDep, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiToken:
    """The stored row of the token the request was sent with (looked up once per request: for a
    request with a body, before the body was read, by ``service.api.guard``)."""
    checked = getattr(request.state, "token", None)
    if checked is not None:
        return checked
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(401, "unauthorized", "an API token is needed: send the header "
                                           "'Authorization: Bearer <token>'", headers=challenge)
    token = token_row(session=session, token=credentials.credentials)
    if token is None:
        raise Problem(401, "unauthorized", "unknown or revoked API token", headers=challenge)
    return token


CurrentToken = Annotated[ApiToken, Depends(current_token)]


def current_user(session: SessionDep, token: CurrentToken) -> User:
    user = session.get(User, token.user_id)
    session.commit()  # no connection is held while the request waits for its next thread
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Problem(403, "forbidden", "only an admin can do this")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def _member(role: str):
    def dependency(project_id: PathId, session: SessionDep, user: CurrentUser) -> Access:
        access = require_project(session=session, user=user, project_id=project_id, role=role)
        # end the read transaction: its connection goes back to the pool, so that no request
        # holds one while it waits (for a thread, the model or a lock); the rows stay loaded
        session.commit()
        return access

    dependency.__name__ = f"{role}_access"
    return dependency


ViewerAccess = Annotated[Access, Depends(_member("viewer"))]
CoderAccess = Annotated[Access, Depends(_member("coder"))]
OwnerAccess = Annotated[Access, Depends(_member("owner"))]
