"""Users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import AdminUser, CurrentUser, SessionDep
from service.api.schemas import TokenCreate, TokenOut, UserCreate, UserCreated, UserOut
from service.services.users import create_user, issue_token

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The user the token belongs to."""
    return UserOut.model_validate(user)


@router.post("", response_model=UserCreated, status_code=201)
def add_user(body: UserCreate, session: SessionDep, _: AdminUser) -> UserCreated:
    """Create a user (admins only); the answer holds their first token, shown once."""
    user, token = create_user(session=session, name=body.name, admin=body.admin)
    return UserCreated(user=UserOut.model_validate(user), token=token)


@router.post("/me/tokens", response_model=TokenOut, status_code=201)
def add_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> TokenOut:
    """Another token for yourself (e.g. one per machine), shown once."""
    return TokenOut(token=issue_token(session=session, user=user, label=body.label))
