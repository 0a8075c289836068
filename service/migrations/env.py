"""Alembic environment: runs on the connection that ``service.db.session.upgrade`` passes in, or
on ``sqlalchemy.url`` from the Alembic config when used from the command line."""

from alembic import context
from sqlalchemy import create_engine

from service.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from service.db.session import normalise_url
    from service.settings import get_settings

    url = config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url()
    with create_engine(normalise_url(url)).begin() as conn:
        _run(conn)
