"""Invariants the database holds under concurrent requests, on SQLite and PostgreSQL: a project
keeps an owner, a coding a person adds is added once, one job per project and kind is queued or
running; and the migration that brings them settles rows that broke them before."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from service.db.session import upgrade
from tests.service.conftest import TRANSCRIPT, api_for, database_at, new_project, precode

ROUNDS = 4


def at_once(calls: list[tuple]) -> list:
    """Send ``(api, method, path, json)`` requests all at once."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda c: c[0].request(c[1], c[2], json=c[3]), calls))


def owners(api, pid) -> list[str]:
    """The project's owners, as ``api`` sees them (none when it is no longer a member)."""
    res = api.get(f"/v1/projects/{pid}/members")
    return [m["name"] for m in res.json() if m["role"] == "owner"] if res.is_success else []


def test_two_owners_demoting_each_other_leave_one_owner(app, owner):
    for _ in range(ROUNDS):
        pid = new_project(owner)
        other = api_for(app, "co-owner")
        owner.post(f"/v1/projects/{pid}/members", json={"user": other.name, "role": "owner"})
        url = f"/v1/projects/{pid}/members"
        answers = at_once([(owner, "post", url, {"user": other.name, "role": "viewer"}),
                           (other, "post", url, {"user": owner.name, "role": "viewer"})])
        # the other one is refused as the last owner, or was demoted before it asked (403)
        assert sorted(a.status_code for a in answers) in ([200, 403], [200, 409]), \
            [a.text for a in answers]
        assert len(owners(owner, pid) or owners(other, pid)) == 1


def test_two_owners_removing_each_other_leave_one_owner(app, owner):
    for _ in range(ROUNDS):
        pid = new_project(owner)
        other = api_for(app, "co-owner")
        owner.post(f"/v1/projects/{pid}/members", json={"user": other.name, "role": "owner"})
        ids = {m["name"]: m["user_id"]
               for m in owner.get(f"/v1/projects/{pid}/members").json()}
        url = f"/v1/projects/{pid}/members"
        answers = at_once([(owner, "delete", f"{url}/{ids[other.name]}", None),
                           (other, "delete", f"{url}/{ids[owner.name]}", None)])
        # the other one is refused as the last owner, or was removed before it asked (404)
        assert sorted(a.status_code for a in answers) in ([204, 404], [204, 409]), \
            [a.text for a in answers]
        left = owners(owner, pid) or owners(other, pid)
        assert len(left) == 1


@pytest.fixture(scope="module")
def coded(app, owner):
    pid = new_project(owner, codebook="npt,integrating")
    assert owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).status_code == 201
    precode(owner, pid)
    doc = owner.get(f"/v1/projects/{pid}/documents").json()[0]["id"]
    segments = owner.get(f"/v1/projects/{pid}/documents/{doc}/segments").json()
    codes = [c["id"] for c in owner.get(f"/v1/projects/{pid}/codebook").json()["codes"]
             if c["codable"]]
    return {"pid": pid, "segments": [s["id"] for s in segments], "codes": codes}


def test_the_same_coding_added_at_once_is_added_once(owner, coded):
    pid = coded["pid"]
    taken = {(s["segment"]["id"], s["code"]) for s in owner.get(
        f"/v1/projects/{pid}/suggestions", params={"limit": 500}).json()["items"]}
    pairs = [(seg, code) for seg in coded["segments"] for code in coded["codes"]
             if (seg, code) not in taken][:ROUNDS]
    for seg, code in pairs:
        answers = at_once([(owner, "post", f"/v1/projects/{pid}/codings",
                            {"segment_id": seg, "code": code})] * 6)
        assert Counter(a.status_code for a in answers) == {201: 1, 409: 5}
        items = owner.get(f"/v1/projects/{pid}/suggestions",
                          params={"code": code, "origin": "human", "limit": 500}).json()["items"]
        assert [s["segment"]["id"] for s in items].count(seg) == 1


def test_one_job_per_project_and_kind_is_queued(app, owner, coded):
    app.state.worker.stop()  # jobs stay queued: the last test of this module
    pid = coded["pid"]
    for kind in ("precode", "retrain"):
        answers = at_once([(owner, "post", f"/v1/projects/{pid}/jobs",
                            {"kind": kind, "redo": True})] * 6)
        assert Counter(a.status_code for a in answers) == {202: 1, 409: 5}, kind
    jobs = owner.get(f"/v1/projects/{pid}/jobs").json()
    assert Counter(j["kind"] for j in jobs if j["status"] == "queued") == {"precode": 1,
                                                                           "retrain": 1}


def test_the_migration_settles_rows_that_broke_the_invariants(backend, tmp_path):
    with database_at(backend, tmp_path, "0004") as engine:
        with engine.begin() as c:
            for n in (1, 2, 3):
                c.execute(text("INSERT INTO jobs (id, project_id, kind, status, params, "
                               "result, done, total, message, attempts, created_by, "
                               "created_at) VALUES (:n, 1, 'precode', :status, '{}', '{}', "
                               "0, 1, '', 0, 1, CURRENT_TIMESTAMP)"),
                          {"n": n, "status": "running" if n == 1 else "queued"})
                c.execute(text("INSERT INTO suggestions (id, project_id, segment_id, code, "
                               "origin, evidence, status, decided_code, created_at) VALUES "
                               "(:n, 1, 1, 'c', 'human', '[]', 'accepted', 'c', "
                               "CURRENT_TIMESTAMP)"), {"n": n})
        upgrade(engine)
        with engine.connect() as c:
            jobs = dict(c.execute(text("SELECT id, status FROM jobs")).all())
            codings = dict(c.execute(text("SELECT id, status FROM suggestions")).all())
        assert jobs == {1: "running", 2: "failed", 3: "failed"}
        assert codings == {1: "accepted", 2: "superseded", 3: "superseded"}
