"""``precode users``: the service's users and their API tokens."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer

from service.cli.common import console, err_console, friendly


@contextmanager
def _session():
    from service.db.session import open_database
    from service.settings import Settings

    engine, sessions = open_database(Settings().sqlalchemy_url())  # the environment now
    try:
        with sessions() as session:
            yield session
    finally:
        engine.dispose()


app = typer.Typer(help="Users of the precode service and their API tokens (the database of "
                       "PRECODE_DATABASE_URL, else PRECODE_HOME).", no_args_is_help=True)

@app.command("create")
@friendly
def create(name: Annotated[str, typer.Argument(help="The new user's name.")],
           admin: Annotated[bool, typer.Option("--admin", help="May create users.")] = False):
    """Create a user and print their first API token (shown once: keep it)."""
    from corpus.errors import PrecodeInputError
    from service.problems import Problem
    from service.services.users import create_user

    with _session() as session:
        try:
            _, token = create_user(session=session, name=name, admin=admin)
        except Problem as exc:
            raise PrecodeInputError(exc.detail, field="NAME") from None
    err_console.print(f"created {'admin ' if admin else ''}user {name!r}; their API token:")
    console.print(token, highlight=False, soft_wrap=True)

@app.command("token")
@friendly
def token(name: Annotated[str, typer.Argument(help="The user's name.")],
          label: Annotated[str, typer.Option(help="What the token is for.")] = ""):
    """Print a new API token for an existing user."""
    from service.services.users import find_user, issue_token

    with _session() as session:
        new = issue_token(session=session, user=find_user(session=session, name=name),
                          label=label)
    console.print(new, highlight=False, soft_wrap=True)

@app.command("list")
@friendly
def list_users():
    """The users, one a line (name, and 'admin' for admins)."""
    from service.services.users import list_users as all_users

    with _session() as session:
        for user in all_users(session=session):
            console.print(f"{user.name}{'  admin' if user.is_admin else ''}",
                          highlight=False)

@app.command("tokens")
@friendly
def tokens(name: Annotated[str, typer.Argument(help="The user's name.")]):
    """A user's tokens: id, label, when created, and when revoked (if so)."""
    from service.services.users import find_user, list_tokens

    with _session() as session:
        for t in list_tokens(session=session, user=find_user(session=session, name=name)):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "valid"
            console.print(f"{t.id}\t{t.label or '-'}\tcreated {t.created_at:%Y-%m-%d %H:%M}"
                          f"\t{state}", highlight=False)

@app.command("revoke")
@friendly
def revoke(name: Annotated[str, typer.Argument(help="The user's name.")],
           token_id: Annotated[int | None, typer.Option(
               "--token", help="The id of the token to revoke (see `precode users tokens`).")
           ] = None,
           every: Annotated[bool, typer.Option("--all", help="Revoke all their tokens.")
                            ] = False):
    """Revoke a user's token (or all of them): the service refuses it from then on."""
    from corpus.errors import PrecodeInputError
    from service.problems import Problem
    from service.services.users import find_user, revoke_all, revoke_token

    if (token_id is None) == (not every):
        raise PrecodeInputError("say which token with --token ID, or --all", field="--token")
    with _session() as session:
        user = find_user(session=session, name=name)
        if every:
            n = revoke_all(session=session, user=user)
            err_console.print(f"revoked {n} token(s) of {name!r}")
            return
        try:
            revoke_token(session=session, user=user, token_id=token_id)
        except Problem:
            raise PrecodeInputError(f"{name!r} has no token {token_id}",
                                    field="--token") from None
    err_console.print(f"revoked token {token_id} of {name!r}")
