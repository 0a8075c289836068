"""``precode users``: the service's users and their API tokens."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer


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


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group to ``app`` (once; calling again does nothing)."""
    if any(group.name == "users" for group in app.registered_groups):
        return
    from service.cli import console, err_console, friendly  # here: service.cli calls us

    users_app = typer.Typer(help="Users of the precode service and their API tokens (the "
                                 "database of PRECODE_DATABASE_URL, else PRECODE_HOME).",
                            no_args_is_help=True)
    app.add_typer(users_app, name="users")

    @users_app.command("create")
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

    @users_app.command("token")
    @friendly
    def token(name: Annotated[str, typer.Argument(help="The user's name.")],
              label: Annotated[str, typer.Option(help="What the token is for.")] = ""):
        """Print a new API token for an existing user."""
        from service.services.users import find_user, issue_token

        with _session() as session:
            new = issue_token(session=session, user=find_user(session=session, name=name),
                              label=label)
        console.print(new, highlight=False, soft_wrap=True)

    @users_app.command("list")
    @friendly
    def list_users():
        """The users, one a line (name, and 'admin' for admins)."""
        from service.services.users import list_users as all_users

        with _session() as session:
            for user in all_users(session=session):
                console.print(f"{user.name}{'  admin' if user.is_admin else ''}",
                              highlight=False)
