"""Bad input, on SQLite and PostgreSQL: every value a database could not store (a NUL character,
an over-long id, name or speaker) is refused up front with a 4xx naming the field, never a 5xx;
and no interview text reaches any log, even when a database error does happen (two uploads of one
file name at once): every input carries a marker string, and the log is searched for it."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.service.conftest import TRANSCRIPT, api_for, new_project, precode
from tests.service.test_api_projects import assert_problem

MARKER = "KESTREL7731MARKER"
SAY = f"We talked it through with the ward team and {MARKER} agreed to try the new clinic."


@pytest.fixture(scope="module")
def setup(app, owner):
    pid = new_project(owner, codebook="npt,integrating")
    viewer = api_for(app, "viewer")
    owner.post(f"/v1/projects/{pid}/members", json={"user": viewer.name, "role": "viewer"})
    res = owner.upload(pid, "seed.txt", f"{TRANSCRIPT}P3: {SAY}\n".encode())
    assert res.status_code == 201, res.text
    precode(owner, pid)
    items = owner.get(f"/v1/projects/{pid}/suggestions").json()["items"]
    return {"pid": pid, "viewer": viewer, "sid": items[0]["id"],
            "segment": items[0]["segment"]["id"]}


@pytest.fixture
def log_text(caplog):
    """Everything the server logged (the test client's own log of the URLs it sent is not the
    server's)."""
    caplog.set_level(logging.DEBUG)

    def text() -> str:
        records = [r for r in caplog.records if not r.name.startswith("httpx")]
        return "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in records)

    return text


def csv_upload(api, pid, name: str, rows: list[tuple[str, str, str]]):
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "text", "speaker"])
    writer.writerows(rows)
    return api.upload(pid, name, out.getvalue().encode())


def test_values_no_database_stores_are_refused_up_front(setup, owner, log_text):
    pid, viewer = setup["pid"], setup["viewer"]
    url = f"/v1/projects/{pid}"
    nul = f"{MARKER}\x00{SAY}"
    answers = {
        "csv id over 300 characters": csv_upload(owner, pid, "long-id.csv",
                                                 [(MARKER * 24, SAY, "P1")]),
        "csv speaker over 200 characters": csv_upload(owner, pid, "long-speaker.csv",
                                                      [("a", SAY, MARKER * 16)]),
        "csv text with NUL": csv_upload(owner, pid, "nul.csv", [("a", nul, "P1")]),
        "txt with NUL": owner.upload(pid, "nul.txt", f"P1: {SAY}\nP2: {nul}\n".encode()),
        "jsonl with an escaped NUL": owner.upload(pid, "nul.jsonl", (json.dumps(
            {"id": "a", "text": SAY}) + "\n" + json.dumps({"id": "b", "text": nul}) + "\n"
        ).encode()),
        "project name with NUL": owner.post("/v1/projects", json={"name": nul}),
        "review note with NUL": owner.post(f"{url}/suggestions/{setup['sid']}/review",
                                           json={"action": "accept", "note": nul}),
        "change to an over-long code": owner.post(
            f"{url}/suggestions/{setup['sid']}/review",
            json={"action": "change", "code": MARKER * 20}),
        "coding with NUL code": owner.post(f"{url}/codings", json={
            "segment_id": setup["segment"], "code": nul}),
        "viewer filter with NUL": viewer.get(f"{url}/suggestions", params={"code": nul}),
        "reviewer filter with NUL": viewer.get(f"{url}/reviews", params={"reviewer": nul}),
        "member name with NUL": owner.post(f"{url}/members",
                                           json={"user": nul, "role": "viewer"}),
        "token label with NUL": owner.post("/v1/users/me/tokens", json={"label": nul}),
        "suggest text with NUL": owner.post("/v1/suggest",
                                            json={"segments": [{"id": "a", "text": nul}]}),
        "codebook with NUL": owner.put(f"{url}/codebook", files={"file": (
            "book.yaml", f"codes:\n  - id: a\n    label: \"{MARKER}\\0\"\n".encode(),
            "application/yaml")}),
    }
    for what, res in answers.items():
        assert 400 <= res.status_code < 500, (what, res.status_code, res.text[:300])
        assert res.headers["content-type"].startswith("application/problem+json"), what
    for what in ("csv id over 300 characters", "jsonl with an escaped NUL",
                 "review note with NUL", "viewer filter with NUL", "project name with NUL"):
        assert_problem(answers[what], 422)
    for what in ("csv text with NUL", "txt with NUL"):  # not a text file: unreadable
        assert_problem(answers[what], 400)
    assert answers["csv id over 300 characters"].json()["errors"][0]["field"] == "id"
    assert answers["jsonl with an escaped NUL"].json()["errors"][0]["field"] == "text"
    assert answers["viewer filter with NUL"].json()["errors"][0]["pointer"] == "#/code"
    # nothing was stored by the refused uploads
    names = {d["name"] for d in owner.get(f"{url}/documents").json()}
    assert names == {"seed.txt"}
    assert MARKER not in log_text()


def test_malformed_tables_are_4xx(setup, owner, log_text):
    pid = setup["pid"]
    nested = '{"id": "a", "text": "' + SAY + '", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    res = owner.upload(pid, "deep.jsonl", (nested + "\n").encode())
    assert 400 <= res.status_code < 500, res.text[:300]
    res = csv_upload(owner, pid, "wide.csv", [("a", SAY + "x" * 140_000, "P1")])
    assert 400 <= res.status_code < 500, res.text[:300]
    assert "/tmp" not in res.text and "precode-upload-" not in res.text
    res = owner.post(f"/v1/projects/{pid}/documents", files={"file": (
        "typed.txt", f"P1: {SAY}\n".encode(), "text/plain; " + "x" * 400)})
    assert res.status_code == 201, res.text
    assert res.json()["upload"]["media_type"] == "text/plain"  # parameters dropped
    assert MARKER not in log_text()


def test_uploads_of_one_name_at_once_are_all_stored(setup, owner, log_text):
    """Each under its own name (``same.txt``, ``same.txt (2)``, ...): no database error, and
    nothing of the transcript in the log."""
    pid = setup["pid"]
    data = f"Interviewer: And then?\nP2: {SAY}\n".encode()
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: owner.upload(pid, "same.txt", data), range(12)))
    assert {a.status_code for a in answers} == {201}, [a.text[:200] for a in answers]
    names = [a.json()["documents"][0]["name"] for a in answers]
    assert len(set(names)) == 12 and "same.txt" in names
    assert MARKER not in log_text()


def test_a_database_error_never_logs_its_parameters(app, setup, log_text):
    """A statement the database refuses (past validation, straight through the service layer)
    fails without its values in the message or the log."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with app.state.sessions() as session, pytest.raises(DBAPIError) as caught:
        session.execute(text("INSERT INTO users (id, name, is_admin, created_at) VALUES "
                             "(:id, :name, :admin, CURRENT_TIMESTAMP)"),
                        {"id": 1, "name": MARKER, "admin": False})
    assert MARKER not in str(caught.value)
    logging.getLogger("precode.test").error("database error: %s", caught.value)
    assert MARKER not in log_text()
