"""Fixtures for the service API: the real app with the tiny real model, on SQLite and (when it
is reachable) PostgreSQL, a fresh database for each test module."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings

PG_ADMIN_URL = os.environ.get("PRECODE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_names = itertools.count(1)

TRANSCRIPT = """Interviewer: Could you tell me how the falls clinic started?
P3: We all sat down in the staff room and agreed what the new falls check was meant to achieve.
Interviewer: And how do you know whether it works?
P3: Every quarter we pull the figures to see how many kits actually come back,
and I keep a spreadsheet of every referral.
Interviewer: What about the other teams?
P3: I agreed to lend them two nurses in winter if they gave us the clinic room on Fridays.
Interviewer: Anything else?
P3: My daughter has just started at university in Glasgow, so I have been busy at home.
"""

VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Interviewer>How did the team agree on the new pathway?

00:00:05.000 --> 00:00:09.000
<v P4>As a group we worked out the purpose of the new pathway before anyone used it.
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Interviewer: How do you check the clinic?

2
00:00:05,000 --> 00:00:09,000
P5: The audit looked at two hundred notes to check whether the score had been recorded.
"""

CSV_TABLE = ("id,text,speaker\n"
             "c1,We bargained with finance for weeks and in the end they funded half.,P6\n"
             "c2,The data team runs a report on uptake so we know which surgeries use it.,P6\n")

JSONL_TABLE = ('{"id": "j1", "text": "We had a whole away day just to agree what success would '
               'look like.", "speaker": "P7"}\n'
               '{"id": "j2", "text": "I traded our bed days with the next ward so they would take '
               'the overflow.", "speaker": "P7"}\n')


def docx_bytes() -> bytes:
    import io

    import docx

    doc = docx.Document()
    doc.add_paragraph("Interviewer: What changed after the audit?")
    doc.add_paragraph("P8: After looking at the numbers we changed the clinic to run every other "
                      "week instead.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def qdpx_bytes(tmp_path: Path, codebook) -> bytes:
    from corpus.refi import write_qdpx

    text = ("Interviewer: How was the room sorted?\nP9: The consultants wanted the slots in the "
            "morning, we wanted afternoons, so we split the week.\n")
    path = write_qdpx(tmp_path / "p.qdpx", codebook=codebook, documents=[("ward-9", text)],
                      codings=[{"document": "ward-9", "start": 42, "end": 120,
                                "codes": ["integrating.negotiating"], "user": "old coder"}])
    return path.read_bytes()


def sample_files(tmp_path: Path, codebook) -> dict[str, bytes]:
    """One file in each format the CLI reads."""
    return {"falls.txt": TRANSCRIPT.encode(), "pathway.vtt": VTT.encode(),
            "audit.srt": SRT.encode(), "table.csv": CSV_TABLE.encode(),
            "table.jsonl": JSONL_TABLE.encode(), "changes.docx": docx_bytes(),
            "ward.qdpx": qdpx_bytes(tmp_path, codebook)}


# ---- databases --------------------------------------------------------------------------------
def _postgres_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


@contextmanager
def fresh_database(backend: str, tmp_path: Path):
    """The URL of an empty database, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'precode-{uuid.uuid4().hex[:8]}.db'}"
        return
    try:
        admin = _postgres_admin()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL run skipped: no server at {PG_ADMIN_URL} ({type(exc).__name__})")
    name = f"precode_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_at(backend: str, tmp_path: Path, revision: str):
    """An engine on a fresh database migrated up to ``revision``, holding one user (1, 'ann')
    and a project with one upload, document and segment (all id 1): rows an older schema held,
    for a test of what a later migration makes of them."""
    from alembic import command
    from sqlalchemy import text

    from service.db.session import alembic_config, make_engine

    with fresh_database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            cfg = alembic_config()
            with engine.begin() as connection:
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
            with engine.begin() as c:
                c.execute(text("INSERT INTO users (id, name, is_admin, created_at) "
                               "VALUES (1, 'ann', false, CURRENT_TIMESTAMP)"))
                c.execute(text("INSERT INTO projects (id, name, codebook_source, codebook_yaml, "
                               "created_by, created_at) VALUES (1, 'p', 'x', '', 1, "
                               "CURRENT_TIMESTAMP)"))
                c.execute(text("INSERT INTO uploads (id, project_id, filename, media_type, size, "
                               "sha256, raw, uploaded_by, created_at) VALUES (1, 1, 'a.txt', "
                               "'text/plain', 0, '', :raw, 1, CURRENT_TIMESTAMP)"), {"raw": b""})
                c.execute(text("INSERT INTO documents (id, project_id, upload_id, name, text, "
                               "n_segments, created_at) VALUES (1, 1, 1, 'a', 'x', 1, "
                               "CURRENT_TIMESTAMP)"))
                c.execute(text("INSERT INTO segments (id, document_id, position, external_id, "
                               "start_pos, end_pos, text, is_interviewer) VALUES "
                               "(1, 1, 0, 's', 0, 1, 'x', false)"))
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def db_url(backend, tmp_path_factory):
    with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


def stop_server(proc, log) -> None:
    """Stop a ``precode serve`` started by a test as an operator would (Ctrl-C), killing it only
    if it has not stopped within a minute, and close its log."""
    import signal
    import subprocess

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


READY_LINE = "ready: the model"


def wait_until_ready(proc, log_path: Path, processes: int = 1, timeout: float = 180) -> None:
    """Wait until each of a ``precode serve``'s processes says it has its model (the server
    answers /healthz before that, and 503 to what needs the model)."""
    deadline = time.monotonic() + timeout
    while log_path.read_text().count(READY_LINE) < processes:
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.3)


def make_settings(home: Path, db_url: str, **overrides) -> Settings:
    return Settings(home=home, database_url=db_url, job_poll_seconds=0.05, **overrides)


@pytest.fixture(scope="module")
def settings(tmp_path_factory, db_url) -> Settings:
    return make_settings(tmp_path_factory.mktemp("home"), db_url, max_upload_bytes=200_000)


@pytest.fixture(scope="module")
def app(settings, tiny_suggester):
    app = create_app(settings, suggester=tiny_suggester)
    with TestClient(app) as client:
        app.state.client = client
        yield app


# ---- clients ----------------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def new_user(app, prefix: str = "user", *, admin: bool = False) -> tuple[str, str]:
    """A new user: (name, token)."""
    from service.services.users import create_user

    name = unique(prefix)
    with app.state.sessions() as session:
        _, token = create_user(session=session, name=name, admin=admin)
    return name, token


class Api:
    """The test client, speaking as one user."""

    def __init__(self, client: TestClient, token: str, name: str):
        self.client, self.name = client, name
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, path: str, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method.upper(), path, headers=headers, **kwargs)

    def __getattr__(self, method):
        return lambda path, **kwargs: self.request(method, path, **kwargs)

    def upload(self, project_id: int, filename: str, data: bytes):
        return self.post(f"/v1/projects/{project_id}/documents",
                         files={"file": (filename, data, "application/octet-stream")})

    def wait_job(self, job_id: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish: {job}")


def api_for(app, prefix: str = "user", *, admin: bool = False) -> Api:
    name, token = new_user(app, prefix, admin=admin)
    return Api(app.state.client, token, name)


@pytest.fixture(scope="module")
def owner(app) -> Api:
    return api_for(app, "owner")


def new_project(api: Api, **body) -> int:
    res = api.post("/v1/projects", json={"name": unique("project"), **body})
    assert res.status_code == 201, res.text
    return res.json()["id"]


def precode(api: Api, project_id: int, **body) -> dict:
    res = api.post(f"/v1/projects/{project_id}/jobs", json={"kind": "precode", **body})
    assert res.status_code == 202, res.text
    job = api.wait_job(res.json()["id"])
    assert job["status"] == "succeeded", job
    return job
