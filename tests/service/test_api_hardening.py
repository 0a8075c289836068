"""Smaller guards, on SQLite and PostgreSQL: rate limits with standard headers, an upload quota,
tokens that expire, nosniff on every answer (an upload served back included), no server path in
any answer, and scratch files a crash left behind removed when the server starts."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from service.api.app import create_app
from service.db.models import ApiToken, utcnow
from tests.service.conftest import TRANSCRIPT, Api, api_for, make_settings, new_project
from tests.service.test_api_projects import assert_problem

RATE = 40


@pytest.fixture(scope="module")
def settings(tmp_path_factory, db_url):
    return make_settings(tmp_path_factory.mktemp("home"), db_url, rate_limit_per_minute=RATE,
                         upload_quota_bytes=3 * len(TRANSCRIPT))


@pytest.fixture(scope="module")
def app(settings, tiny_suggester):
    # what a crashed server process left: a scratch folder with transcript text in it
    left = settings.home / "tmp" / "precode-upload-999999999-abcd"
    left.mkdir(parents=True)
    (left / "falls.txt").write_text(TRANSCRIPT)
    app = create_app(settings, suggester=tiny_suggester)
    with TestClient(app) as client:
        app.state.client = client
        app.state.crash_leftover = left
        yield app


def test_scratch_left_by_a_crash_is_removed_at_start(app, owner):
    assert not app.state.crash_leftover.exists()
    pid = new_project(owner)
    assert owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).status_code == 201
    scratch = app.state.settings.home / "tmp"
    assert list(scratch.iterdir()) == []  # an upload's scratch folder goes with it


def test_rate_limit_with_standard_headers(app):
    api = api_for(app, "busy")
    answers = [api.get("/v1/users/me") for _ in range(RATE + 5)]
    first = answers[0]
    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == str(RATE)
    assert int(first.headers["RateLimit-Remaining"]) == RATE - 1
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.status_code == 200 for a in answers[:RATE])
    assert_problem(refused[0], 429)
    assert int(refused[0].headers["Retry-After"]) >= 1
    # another user is not slowed down by this one
    assert api_for(app, "calm").get("/v1/users/me").status_code == 200


def test_upload_quota(app):
    api = api_for(app, "uploader")
    pid = new_project(api)
    for n in range(3):
        assert api.upload(pid, f"f{n}.txt", TRANSCRIPT.encode()).status_code == 201
    res = api.upload(pid, "one-more.txt", TRANSCRIPT.encode())
    assert_problem(res, 429)
    assert "quota" in res.json()["detail"] and "Retry-After" in res.headers


def test_tokens_expire(app):
    api = api_for(app, "expiring")
    res = api.post("/v1/users/me/tokens", json={"label": "week", "expires_in_days": 7})
    assert res.status_code == 201
    week = Api(app.state.client, res.json()["token"], api.name)
    assert week.get("/v1/users/me").status_code == 200
    mine = {t["label"]: t for t in week.get("/v1/users/me/tokens").json()}
    assert mine["week"]["expires_at"] is not None and mine["first token"]["expires_at"] is None
    with app.state.sessions() as session:  # a week later
        session.execute(update(ApiToken).where(ApiToken.id == mine["week"]["id"])
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert_problem(week.get("/v1/users/me"), 401)
    assert_problem(week.post("/v1/projects", json={"name": "x"}), 401)
    assert api.get("/v1/users/me").status_code == 200
    assert_problem(api.post("/v1/users/me/tokens", json={"expires_in_days": 0}), 422)


def test_nosniff_and_no_server_paths(app, owner):
    pid = new_project(owner)
    up = owner.post(f"/v1/projects/{pid}/documents", files={"file": (
        "page.txt", f"<html><script>alert(1)</script>\n{TRANSCRIPT}".encode(), "text/html")})
    assert up.status_code == 201, up.text
    raw = owner.get(f"/v1/projects/{pid}/uploads/{up.json()['upload']['id']}/raw")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert raw.headers["Content-Disposition"].startswith("attachment")
    ready = app.state.client.get("/readyz")
    assert ready.headers["X-Content-Type-Options"] == "nosniff"
    assert os.sep not in ready.json()["model"]
    bad = owner.upload(pid, "broken.docx", b"PK\x03\x04 not really a zip")
    assert 400 <= bad.status_code < 500
    home = str(app.state.settings.home)
    for res in (ready, bad):
        assert "/tmp" not in res.text and home not in res.text, res.text
