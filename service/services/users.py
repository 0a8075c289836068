"""Users and API tokens. Only a token's SHA-256 is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError
from service.db.models import ApiToken, User, utcnow
from service.names import CONSENSUS_USER, MODEL_USER
from service.problems import Problem, not_found

TOKEN_PREFIX = "pc_"
RESERVED_NAMES = {MODEL_USER.casefold(), CONSENSUS_USER.casefold(), "model"}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(*, session: Session, user: User, label: str = "",
                expires_in_days: float | None = None) -> str:
    """A new token for ``user``; with ``expires_in_days``, it stops working after that long."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label,
                         expires_at=expires))
    session.commit()
    return token


def create_user(*, session: Session, name: str, admin: bool = False) -> tuple[User, str]:
    """A new user and their first token."""
    name = name.strip()
    if not name or len(name) > 100:
        raise PrecodeInputError("a user name needs 1 to 100 characters", field="name")
    if name.casefold() in RESERVED_NAMES:
        raise PrecodeInputError(f"{name!r} is reserved for the model's codings", field="name")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Problem(409, "conflict", f"a user named {name!r} exists already")
    user = User(name=name, is_admin=admin)
    session.add(user)
    session.flush()
    return user, issue_token(session=session, user=user, label="first token")


def token_row(*, session: Session, token: str) -> ApiToken | None:
    """The stored row of a token that is still valid (None for unknown, revoked or expired
    ones)."""
    return session.scalar(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow())))


def list_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.id)))


def revoke_token(*, session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s tokens (the row stays, with when it was revoked). Revoking a
    revoked token changes nothing; another user's token is "not found"."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise not_found("token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.commit()
    return row


def revoke_all(*, session: Session, user: User) -> int:
    """Revoke every valid token of ``user``; returns how many."""
    done = session.execute(update(ApiToken).where(ApiToken.user_id == user.id,
                                                  ApiToken.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))
    session.commit()
    return done.rowcount


def find_user(*, session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise PrecodeInputError(f"no user named {name!r}", field="user")
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))
