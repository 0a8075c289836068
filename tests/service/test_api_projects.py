"""Projects, codebooks, members and uploads on the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest

from tests.service.conftest import api_for, new_project, sample_files

PROBLEM = "application/problem+json"


def assert_problem(res, status: int) -> dict:
    assert res.status_code == status, res.text
    assert res.headers["content-type"].startswith(PROBLEM)
    body = res.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    return body


def test_create_and_list_projects(owner):
    pid = new_project(owner, codebook="npt,integrating")
    listed = {p["id"]: p for p in owner.get("/v1/projects").json()}
    assert listed[pid]["role"] == "owner"
    assert listed[pid]["codebook_source"] == "npt,integrating"
    book = owner.get(f"/v1/projects/{pid}/codebook").json()
    assert "integrating.negotiating" in {c["id"] for c in book["codes"]}
    models = owner.get(f"/v1/projects/{pid}/models").json()
    assert [(m["version"], m["current"]) for m in models] == [(0, True)]


def test_unknown_builtin_codebook_is_refused(owner):
    body = assert_problem(owner.post("/v1/projects", json={"name": "x",
                                                           "codebook": "/etc/passwd"}), 422)
    assert body["errors"][0]["field"] == "codebook"


def test_upload_own_codebook(owner):
    pid = new_project(owner)
    yaml = ("id: mine\ncodes:\n  - id: trust\n    label: Trust\n    definition: Talk about "
            "trusting a colleague.\n")
    res = owner.put(f"/v1/projects/{pid}/codebook", files={"file": ("mine.yaml", yaml.encode())})
    assert res.status_code == 200, res.text
    assert [c["id"] for c in res.json()["codes"]] == ["trust"]
    bad = owner.put(f"/v1/projects/{pid}/codebook", files={"file": ("bad.yaml", b"codes: [1")})
    body = assert_problem(bad, 400)
    assert body["errors"][0]["source"] == "bad.yaml"
    assert owner.get(f"/v1/projects/{pid}/codebook").json()["codes"][0]["id"] == "trust"


def test_upload_every_format(owner, tmp_path, npt_integrating):
    pid = new_project(owner)
    for filename, data in sample_files(tmp_path, npt_integrating).items():
        res = owner.upload(pid, filename, data)
        assert res.status_code == 201, (filename, res.text)
        out = res.json()
        assert out["upload"]["sha256"] == hashlib.sha256(data).hexdigest()
        raw = owner.get(f"/v1/projects/{pid}/uploads/{out['upload']['id']}/raw")
        assert raw.content == data
        for doc in out["documents"]:
            assert doc["n_segments"] > 0
            text = owner.get(f"/v1/projects/{pid}/documents/{doc['id']}").json()["text"]
            segments = owner.get(f"/v1/projects/{pid}/documents/{doc['id']}/segments").json()
            assert len(segments) == doc["n_segments"]
            for seg in segments:
                assert text[seg["start"]:seg["end"]] == seg["text"]
        if filename.endswith(".qdpx"):
            assert any("imported 1 coding(s)" in n for n in out["notes"])
    names = [d["name"] for d in owner.get(f"/v1/projects/{pid}/documents").json()]
    assert "falls.txt" in names and "ward-9" in names
    again = owner.upload(pid, "falls.txt", sample_files(tmp_path, npt_integrating)["falls.txt"])
    assert again.json()["documents"][0]["name"] == "falls.txt (2)"


@pytest.mark.parametrize("filename,data,status,where", [
    ("notes.pdf", b"%PDF-1.4", 400, "notes.pdf"),
    ("empty.txt", b"   ", 400, "empty.txt"),
    ("binary.txt", b"\x00\x01\x02", 400, "binary.txt"),
    ("bad.docx", b"not a zip", 400, "bad.docx"),
    ("bad.qdpx", b"not a zip", 400, "bad.qdpx"),
    ("rows.csv", b"id,text\n1,\n", 422, "rows.csv"),
    ("rows.jsonl", b'{"id": "a", "text": "fine"}\n{not json\n', 400, "rows.jsonl"),
])
def test_malformed_uploads_are_refused(owner, filename, data, status, where):
    pid = new_project(owner)
    body = assert_problem(owner.upload(pid, filename, data), status)
    assert body["errors"][0]["source"].startswith(where)
    assert "/tmp" not in body["detail"]
    assert owner.get(f"/v1/projects/{pid}/documents").json() == []


def test_unsafe_archive_is_refused(owner, tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.txt", "x")
        zf.writestr("project.qde", "<Project/>")
    pid = new_project(owner)
    body = assert_problem(owner.upload(pid, "evil.qdpx", buf.getvalue()), 400)
    assert "unsafe" in body["detail"]


def test_limits(owner, settings):
    pid = new_project(owner)
    assert_problem(owner.upload(pid, "big.txt", b"P1: x\n" * (settings.max_upload_bytes // 6 + 1)),
                   413)
    huge = assert_problem(owner.upload(pid, "huge.txt", b"x" * (settings.max_upload_bytes * 2)),
                          413)
    assert "request body" in huge["detail"]
    long_row = "id,text\n1," + "y" * (settings.max_text_chars + 1) + "\n"
    assert_problem(owner.upload(pid, "long.csv", long_row.encode()), 413)
    assert owner.get(f"/v1/projects/{pid}/documents").json() == []


def test_members_and_roles(app, owner):
    pid = new_project(owner)
    coder, viewer = api_for(app, "coder"), api_for(app, "viewer")
    for api, role in ((coder, "coder"), (viewer, "viewer")):
        res = owner.post(f"/v1/projects/{pid}/members", json={"user": api.name, "role": role})
        assert res.status_code == 200, res.text
    assert {m["name"]: m["role"] for m in owner.get(f"/v1/projects/{pid}/members").json()} == {
        owner.name: "owner", coder.name: "coder", viewer.name: "viewer"}
    assert viewer.get(f"/v1/projects/{pid}").json()["role"] == "viewer"
    assert_problem(viewer.upload(pid, "a.txt", b"P1: hello there"), 403)
    assert_problem(coder.post(f"/v1/projects/{pid}/jobs", json={"kind": "retrain"}), 403)
    assert_problem(viewer.post(f"/v1/projects/{pid}/codings",
                               json={"segment_id": 1, "code": "x"}), 403)
    assert_problem(coder.get(f"/v1/projects/{pid}/export.csv"), 403)
    me = owner.get("/v1/users/me").json()
    assert_problem(owner.delete(f"/v1/projects/{pid}/members/{me['id']}"), 409)
    assert_problem(owner.post(f"/v1/projects/{pid}/members", json={"user": "nobody-at-all",
                                                                    "role": "coder"}), 422)


def test_validation_errors_are_problems(owner):
    body = assert_problem(owner.post("/v1/projects", json={"name": ""}), 422)
    assert body["type"].endswith("validation")
    assert body["errors"][0]["pointer"] == "#/name"
    assert_problem(owner.get("/v1/projects/not-a-number"), 422)
    assert_problem(owner.get("/v1/no-such-route"), 404)


def test_tokens_and_users(app, owner):
    assert_problem(app.state.client.get("/v1/projects"), 401)
    assert_problem(app.state.client.get("/v1/projects", headers={
        "Authorization": "Bearer pc_wrong"}), 401)
    assert_problem(owner.post("/v1/users", json={"name": "someone"}), 403)
    admin = api_for(app, "admin", admin=True)
    res = admin.post("/v1/users", json={"name": "fresh-user-1"})
    assert res.status_code == 201
    token = res.json()["token"]
    me = app.state.client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == "fresh-user-1"
    assert_problem(admin.post("/v1/users", json={"name": "fresh-user-1"}), 409)
    assert_problem(admin.post("/v1/users", json={"name": "precode model"}), 422)
    second = owner.post("/v1/users/me/tokens", json={"label": "laptop"}).json()["token"]
    assert app.state.client.get("/v1/users/me", headers={
        "Authorization": f"Bearer {second}"}).json()["name"] == owner.name
    with app.state.sessions() as session:
        from service.db.models import ApiToken

        hashes = {t.token_hash for t in session.query(ApiToken)}
    assert token not in hashes and second not in hashes


def test_revoking_tokens(app):
    from tests.service.conftest import Api

    user = api_for(app, "revoker")
    laptop = user.post("/v1/users/me/tokens", json={"label": "laptop"}).json()["token"]
    on_laptop = Api(app.state.client, laptop, user.name)
    listed = user.get("/v1/users/me/tokens").json()
    assert [t["label"] for t in listed] == ["first token", "laptop"]
    assert [t["current"] for t in listed] == [True, False]
    assert on_laptop.get("/v1/users/me/tokens").json()[1]["current"] is True
    assert "token" not in listed[0] and all(t["revoked_at"] is None for t in listed)

    assert user.delete(f"/v1/users/me/tokens/{listed[1]['id']}").status_code == 204
    assert_problem(on_laptop.get("/v1/users/me"), 401)
    assert user.get("/v1/users/me").json()["name"] == user.name  # the other token still works
    after = user.get("/v1/users/me/tokens").json()
    assert after[1]["revoked_at"] is not None and after[0]["revoked_at"] is None
    assert user.delete(f"/v1/users/me/tokens/{listed[1]['id']}").status_code == 204  # again: same

    other = api_for(app, "bystander")
    mine = other.get("/v1/users/me/tokens").json()[0]["id"]
    assert_problem(user.delete(f"/v1/users/me/tokens/{mine}"), 404)
    assert other.get("/v1/users/me").status_code == 200

    assert user.delete(f"/v1/users/me/tokens/{listed[0]['id']}").status_code == 204
    assert_problem(user.get("/v1/users/me"), 401)  # revoked with its own last request


def test_health_ready_metrics_and_openapi(app, owner):
    client = app.state.client
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    owner.get("/v1/projects")
    metrics = client.get("/metrics").text
    assert 'precode_http_requests_total{method="GET",route="/v1/projects",status="200"}' in metrics
    assert "precode_http_request_duration_seconds_bucket" in metrics
    assert "precode_jobs" in metrics
    schema = client.get("/openapi.json").json()
    assert "token" in schema["components"]["securitySchemes"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and (op.get("description") or method == "get"), (path, method)
            for status, answer in op["responses"].items():
                if status.startswith("4"):  # errors are problem details, documented as such
                    assert list(answer["content"]) == [PROBLEM], (path, method, status)
                    assert answer["content"][PROBLEM]["schema"]["$ref"].endswith("/ProblemOut")
    for name in ("ProjectCreate", "JobOut", "ProjectSuggestion", "ReviewIn", "ProblemOut"):
        component = schema["components"]["schemas"][name]
        assert "examples" in component or all(
            "examples" in p or "$ref" in p or "anyOf" in p or "items" in p
            for p in component["properties"].values()), name
