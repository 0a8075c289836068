"""The Alembic migrations: applied at start-up, idempotent, and in step with the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from service.db.models import Base
from service.db.session import alembic_config, make_engine, normalise_url, upgrade


def test_upgrade_is_idempotent_and_matches_the_models(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        upgrade(engine)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == head
            assert compare_metadata(context, Base.metadata) == []
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_postgres_urls_use_psycopg():
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_existing_decisions_become_their_reviewers_own(backend, tmp_path):
    """Migration 0007: each person's latest review of a suggestion becomes their decision (an
    import's, under the coder the file names); nothing else changes."""
    from sqlalchemy import text

    from tests.service.conftest import database_at

    with database_at(backend, tmp_path, "0006") as engine:
        with engine.begin() as c:
            c.execute(text("INSERT INTO users (id, name, is_admin, created_at) VALUES "
                           "(2, 'bob', false, CURRENT_TIMESTAMP)"))
            for n, origin in ((1, "model"), (2, "imported")):
                c.execute(text("INSERT INTO suggestions (id, project_id, segment_id, code, "
                               "origin, evidence, status, decided_code, created_at) VALUES "
                               "(:n, 1, 1, 'c', :origin, '[]', 'rejected', NULL, "
                               "CURRENT_TIMESTAMP)"), {"n": n, "origin": origin})
            # ann accepts then changes; bob rejects last; ann imported Ruth's coding
            for rid, sid, who, action, code, coder in (
                    (1, 1, 1, "accept", "c", None), (2, 1, 2, "reject", None, None),
                    (3, 1, 1, "change", "d", None), (4, 2, 1, "import", "c", "Ruth")):
                c.execute(text("INSERT INTO reviews (id, project_id, suggestion_id, "
                               "reviewer_id, action, code, note, coder, created_at) VALUES "
                               "(:id, 1, :sid, :who, :action, :code, '', :coder, "
                               "CURRENT_TIMESTAMP)"),
                          {"id": rid, "sid": sid, "who": who, "action": action,
                           "code": code, "coder": coder})
        upgrade(engine)
        with engine.connect() as c:
            got = sorted(tuple(r) for r in c.execute(text(
                "SELECT suggestion_id, reviewer_id, coder, status, code, review_id "
                "FROM decisions")))
            kept = c.execute(text("SELECT status FROM suggestions WHERE id = 1")).scalar()
            blind = c.execute(text("SELECT blind FROM projects")).scalar()
        assert got == [(1, 1, "ann", "changed", "d", 3), (1, 2, "bob", "rejected", None, 2),
                       (2, 1, "Ruth", "accepted", "c", 4)]
        assert kept == "rejected" and not blind
