"""The server answers before its database is open: ``precode serve`` runs the app behind
``service.api.shell``, which answers /healthz at once, says on /readyz what it waits for, and
answers everything else 503 with Retry-After until the full app has opened its database; a
database that cannot be opened is said by /readyz (without paths or credentials) and the log, and
stops ``precode serve`` with exit status 1."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import httpx
import uvicorn

from service.api.app import create_app
from service.api.shell import Shell
from service.services.users import create_user
from tests.service.conftest import make_settings
from tests.service.test_model_ready import free_port, wait_for


class Serving:
    """A real server (uvicorn, on a free port, in a thread) running ``app``."""

    def __init__(self, app):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=30)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.server.config.port}",
                                 timeout=10)
        return self.http

    def __exit__(self, *exc) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive()


def test_healthz_answers_while_the_database_is_still_being_opened(tmp_path, tiny_suggester):
    """Another connection holds the database's write lock as the server starts, so its
    migration waits: the server is alive, says it is opening the database, answers every other
    request 503 with Retry-After, and serves as usual once the lock is let go."""
    database = tmp_path / "precode.db"
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held
    settings = make_settings(tmp_path / "home", f"sqlite:///{database}", retry_after_seconds=3)
    shell = Shell(partial(create_app, settings, suggester=tiny_suggester), retry_after=3)
    try:
        with Serving(shell) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            waiting = wait_for(lambda: (lambda r: r if r.json()["status"] == "opening the "
                                        "database" else None)(http.get("/readyz")))
            assert waiting.status_code == 503 and waiting.headers["retry-after"] == "3"
            assert http.get("/healthz").status_code == 200  # still alive while it waits
            early = http.post("/v1/projects", json={"name": "early"},
                              headers={"Authorization": "Bearer whatever"})
            assert early.status_code == 503 and early.headers["retry-after"] == "3"
            assert early.headers["content-type"].startswith("application/problem+json")
            problem = early.json()
            assert problem["type"].endswith("not-ready") and problem["instance"] == "/v1/projects"
            assert "opening the database" in problem["detail"] and "/readyz" in problem["detail"]

            holder.execute("ROLLBACK")  # the lock is let go: the migration goes on
            ready = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
                http.get("/readyz")))
            assert ready.json()["status"] == "ready"
            with shell.app.state.sessions() as session:
                _, token = create_user(session=session, name="ann", admin=True)
            auth = {"Authorization": f"Bearer {token}"}
            made = http.post("/v1/projects", json={"name": "first"}, headers=auth)
            assert made.status_code == 201, made.text
            # the full app's own checks are there: a bad token is refused, a NUL is named
            assert http.get("/v1/projects", headers={"Authorization": "Bearer bad"}
                            ).status_code == 401
            assert http.get("/v1/projects", params={"name": "a\x00"}, headers=auth
                            ).status_code == 422
    finally:
        holder.close()


def test_a_failed_migration_is_said_by_readyz_and_the_log(tmp_path, caplog):
    """The database is at a revision this version does not know: the server stays alive to say
    so, /readyz names the reason without the database's path, the log has it, and the
    server's owner is told (``precode serve`` stops on it)."""
    database = tmp_path / "precode.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('f00dfeedbeef')")
    db.close()
    settings = make_settings(tmp_path / "home", f"sqlite:///{database}")
    told = threading.Event()
    shell = Shell(partial(create_app, settings), retry_after=2, on_failure=told.set)
    with caplog.at_level(logging.ERROR, logger="precode.startup"), Serving(shell) as http:
        assert http.get("/healthz").status_code == 200
        assert told.wait(60)
        state = http.get("/readyz")
        assert state.status_code == 503 and "retry-after" not in state.headers
        assert state.json()["status"] == "the database cannot be opened"
        assert "f00dfeedbeef" in state.json()["failed"]
        assert str(tmp_path) not in state.text
        refused = http.get("/v1/projects")
        assert refused.status_code == 503 and "the database cannot be opened" in refused.text
        assert shell.app is None
    assert any("the database cannot be opened" in r.getMessage() for r in caplog.records)


def test_precode_serve_stops_with_the_reason_when_the_database_cannot_be_opened(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECODE_")}
    env.update(PRECODE_HOME=str(tmp_path / "home"),
               PRECODE_DATABASE_URL="postgresql://precode:s3cret@127.0.0.1:1/nowhere")
    precode = Path(sys.executable).parent / "precode"
    done = subprocess.run([str(precode), "serve", "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "the database cannot be opened" in done.stderr
    assert "OperationalError" in done.stderr
    assert "s3cret" not in done.stderr.split("Traceback")[0]  # not in what /readyz would say
