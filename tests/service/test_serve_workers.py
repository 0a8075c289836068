"""`precode serve --workers 2`: two real server processes over one database (SQLite and
PostgreSQL). Whichever process answers, a decision is evidence at once, a job runs once, and
/metrics adds up both processes' counts."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import TRANSCRIPT, stop_server, wait_until_ready

pytestmark = pytest.mark.slow
PRECODE = str(Path(sys.executable).with_name("precode"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory, tiny_model):
    home = tmp_path_factory.mktemp("serve-home")
    env = {**os.environ, "PRECODE_HOME": str(home), "PRECODE_DATABASE_URL": db_url,
           "PRECODE_JOB_POLL_SECONDS": "0.1", "HF_HUB_OFFLINE": "1"}
    created = subprocess.run([PRECODE, "users", "create", "ann", "--admin"], env=env,
                             capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1]
    port = free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen([PRECODE, "serve", "--workers", "2", "--port", str(port),
                             "--model", str(tiny_model)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, (home / "serve.log").read_text()
            if (home / "serve.log").read_text().count("Application startup complete") >= 2:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the server did not start:\n" + (home / "serve.log").read_text())
        wait_until_ready(proc, home / "serve.log", processes=2)
        yield {"base": base, "headers": {"Authorization": f"Bearer {token}"},
               "log": home / "serve.log", "home": home}
    finally:
        stop_server(proc, log)


def call(server, method: str, path: str, **kwargs) -> httpx.Response:
    """One request on a new connection, so that either process may take it."""
    with httpx.Client(base_url=server["base"], headers=server["headers"], timeout=60) as client:
        return client.request(method, path, **kwargs)


def test_two_processes_serve_one_consistent_project(server):
    log = server["log"].read_text()
    assert len(set(re.findall(r"Started server process \[(\d+)\]", log))) >= 2, log

    pid = call(server, "POST", "/v1/projects", json={"name": "two workers"}).json()["id"]
    up = call(server, "POST", f"/v1/projects/{pid}/documents",
              files={"file": ("falls.txt", TRANSCRIPT.encode())})
    assert up.status_code == 201, up.text
    job = call(server, "POST", f"/v1/projects/{pid}/jobs", json={"kind": "precode"}).json()
    deadline = time.monotonic() + 120
    while (state := call(server, "GET", f"/v1/jobs/{job['id']}").json())["status"] not in (
            "succeeded", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["status"] == "succeeded" and state["attempts"] == 1, state
    items = call(server, "GET", f"/v1/projects/{pid}/suggestions",
                 params={"limit": 500}).json()["items"]
    assert items and len({(s["segment"]["id"], s["code"]) for s in items}) == len(items)

    target = items[0]
    mine, body = f"segment-{target['segment']['id']}", {
        "segments": [{"id": "q", "text": target["segment"]["text"]}], "min_confidence": 0.0}
    review = f"/v1/projects/{pid}/suggestions/{target['id']}/review"
    assert call(server, "POST", review, json={"action": "accept"}).status_code == 200
    for _ in range(6):  # on new connections: both processes answer some of them
        got = call(server, "POST", f"/v1/projects/{pid}/suggest", json=body).json()
        ids = {e["id"] for s in got["segments"][0]["suggestions"] for e in s["evidence"]}
        assert mine in ids
    assert call(server, "POST", review, json={"action": "reject"}).status_code == 200
    for _ in range(6):
        got = call(server, "POST", f"/v1/projects/{pid}/suggest", json=body).json()
        ids = {e["id"] for s in got["segments"][0]["suggestions"] for e in s["evidence"]}
        assert mine not in ids

    metrics = call(server, "GET", "/metrics").text
    counted = sum(float(m) for m in re.findall(
        r'precode_http_requests_total\{method="POST",route="/v1/projects/\{project_id\}/suggest",'
        r'status="200"\} ([\d.]+)', metrics))
    assert counted == 12
    assert 'precode_jobs{kind="precode",status="succeeded"} 1.0' in metrics
    counters = list((server["home"] / "run").glob("metrics-*/counter_*.db"))
    assert len(counters) == 2, counters  # each process answered some requests
