"""Users and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import AdminUser, CurrentToken, CurrentUser, PathId, SessionDep
from service.api.schemas import (
    TokenCreate,
    TokenInfo,
    TokenOut,
    UserCreate,
    UserCreated,
    UserOut,
)
from service.services.users import (
    create_user,
    issue_token,
    list_tokens,
    revoke_token,
)

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
    return TokenOut(token=issue_token(session=session, user=user, label=body.label,
                                      expires_in_days=body.expires_in_days))


def _info(token, current_id: int | None) -> TokenInfo:
    return TokenInfo.model_validate(token).model_copy(update={"current": token.id == current_id})


@router.get("/me/tokens", response_model=list[TokenInfo])
def my_tokens(session: SessionDep, user: CurrentUser, current: CurrentToken) -> list[TokenInfo]:
    """Your tokens, revoked ones included (labels and dates; the tokens themselves are never
    stored)."""
    return [_info(t, current.id) for t in list_tokens(session=session, user=user)]


@router.delete("/me/tokens/{token_id}", status_code=204, response_class=Response)
def revoke_my_token(token_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    """Revoke one of your tokens at once (a lost laptop, a leaked script). Revoking the token
    this request was sent with is allowed: it is its last request. `precode users revoke` does
    this for any user on the server."""
    revoke_token(session=session, user=user, token_id=token_id)
    return Response(status_code=204)
