"""Access control: every project route refuses other projects' data with 404 (ids don't leak),
on the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from tests.service.conftest import TRANSCRIPT, api_for, new_project, precode
from tests.service.test_api_projects import assert_problem

PUBLIC = {"/healthz", "/readyz", "/metrics"}
NOT_PROJECT_DATA = {"/v1/suggest", "/v1/projects", "/v1/users", "/v1/users/me",
                    "/v1/users/me/tokens", "/v1/users/me/tokens/{token_id}"}


def body_for(path: str, ids: dict) -> dict:
    """A valid request body for each route that takes one (ids from the project under test)."""
    if path.endswith("/documents") or path.endswith("/codebook"):
        name = "c.yaml" if path.endswith("/codebook") else "a.txt"
        return {"files": {"file": (name, b"P1: hello there, this is a transcript line.")}}
    bodies = {
        "/members": {"user": ids["user_name"], "role": "viewer"},
        "/jobs": {"kind": "precode", "document_ids": [ids["document_id"]]},
        "/review": {"action": "accept"},
        "/bulk-accept": {"ids": [ids["suggestion_id"]]},
        "/codings": {"segment_id": ids["segment_id"], "code": "integrating.negotiating"},
        "/suggest": {"segments": [{"id": "a", "text": "hello"}]},
        "/consensus": {"action": "accept"},
        "/blind": {"codes": []},
        "/memos": {"text": "a memo"},
        "{memo_id}": {"text": "a memo"},
        "{project_id}": {"blind": True},
    }
    return {"json": next((b for suffix, b in bodies.items() if path.endswith(suffix)), None)}


@pytest.fixture(scope="module")
def world(app):
    """Project A with data of every kind, and outsider B with a project of their own."""
    a = api_for(app, "alice")
    pid = new_project(a)
    up = a.upload(pid, "falls.txt", TRANSCRIPT.encode()).json()
    doc = up["documents"][0]
    job = precode(a, pid)
    sug = a.get(f"/v1/projects/{pid}/suggestions").json()["items"][0]
    a.post(f"/v1/projects/{pid}/suggestions/{sug['id']}/review", json={"action": "reject"})
    memo = a.post(f"/v1/projects/{pid}/segments/{sug['segment']['id']}/memos",
                  json={"text": "alice's memo"}).json()
    b = api_for(app, "bob")
    ids = {"project_id": pid, "document_id": doc["id"], "upload_id": up["upload"]["id"],
           "suggestion_id": sug["id"], "segment_id": sug["segment"]["id"], "job_id": job["id"],
           "user_id": a.get("/v1/users/me").json()["id"], "user_name": b.name,
           "memo_id": memo["id"]}
    return {"a": a, "b": b, "ids": ids, "b_project": new_project(b)}


def operations(app) -> list[tuple[str, str]]:
    schema = app.state.client.get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in schema["paths"].items()
            for method in ops if path not in PUBLIC | NOT_PROJECT_DATA]


def fill(path: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


def test_every_project_route_is_covered(app):
    ops = operations(app)
    assert len(ops) >= 20
    assert all("{project_id}" in path or "{job_id}" in path for _, path in ops), ops


def test_outsiders_get_404_on_every_route(app, world):
    outsider, ids = world["b"], world["ids"]
    for method, path in operations(app):
        res = outsider.request(method, fill(path, ids), **body_for(path, ids))
        body = assert_problem(res, 404)
        assert "alice" not in res.text and "falls" not in res.text, (method, path)
        assert body["detail"].endswith("not found"), (method, path, body)
    assert world["ids"]["project_id"] not in {p["id"] for p in outsider.get("/v1/projects").json()}


def test_own_project_with_another_projects_ids_is_404(app, world):
    """Bob, owner of his project, names Alice's documents, uploads, suggestions and jobs."""
    bob, ids = world["b"], {**world["ids"], "project_id": world["b_project"]}
    for method, path in operations(app):
        if not re.search(r"\{(document_id|upload_id|suggestion_id|job_id|user_id|segment_id|"
                         r"memo_id)\}", path):
            continue
        assert_problem(bob.request(method, fill(path, ids), **body_for(path, ids)), 404)
    base = f"/v1/projects/{world['b_project']}"
    assert_problem(bob.post(f"{base}/codings", json=body_for("/codings", ids)["json"]), 404)
    assert_problem(bob.post(f"{base}/jobs", json=body_for("/jobs", ids)["json"]), 404)
    bulk = bob.post(f"{base}/suggestions/bulk-accept", json={"ids": [ids["suggestion_id"]]})
    assert bulk.json() == {"accepted": 0, "ids": [], "dry_run": False}
    alice_view = world["a"].get(f"/v1/projects/{world['ids']['project_id']}/suggestions/"
                                f"{ids['suggestion_id']}").json()
    assert alice_view["status"] == "rejected"


def test_every_route_but_health_needs_a_token(app):
    client = app.state.client
    schema = client.get("/openapi.json").json()
    ids = {k: 1 for k in ("project_id", "document_id", "upload_id", "suggestion_id", "job_id",
                          "user_id", "token_id", "segment_id", "memo_id")}
    for path, ops in schema["paths"].items():
        for method in ops:
            res = client.request(method.upper(), fill(path, ids))
            if path in PUBLIC:
                assert res.status_code == 200, path
            else:
                assert_problem(res, 401)
                assert res.headers["www-authenticate"] == "Bearer"
