"""Engine, sessions and migrations: SQLite in ``PRECODE_HOME`` by default, PostgreSQL when
``PRECODE_DATABASE_URL`` names one. Migrations (Alembic, in ``service/migrations``) are applied
programmatically when the app starts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
MIGRATION_LOCK = 0x70726563  # a PostgreSQL advisory lock key: one process migrates at a time


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, *, pool_size: int = 5, pool_timeout: float = 30.0) -> Engine:
    """The engine. Statements' parameters never appear in an error's message
    (``hide_parameters``): they may be interview text, and errors reach logs. The pool holds
    ``pool_size`` connections and no overflow; a request waiting longer than ``pool_timeout``
    seconds for one gets ``sqlalchemy.exc.TimeoutError`` (answered 503)."""
    url = normalise_url(url)
    pool = dict(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    else:
        pool = {}  # an in-memory database lives in one connection
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           hide_parameters=True, **pool)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest migration (idempotent)."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # server processes starting together
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def open_database(url: str, **pool) -> tuple[Engine, sessionmaker[Session]]:
    """An engine on ``url``, migrated to the newest schema, and its session factory
    (``pool``: ``pool_size`` and ``pool_timeout`` of ``make_engine``)."""
    engine = make_engine(url, **pool)
    upgrade(engine)
    return engine, session_factory(engine)
