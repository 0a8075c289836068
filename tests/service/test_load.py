"""The load test (locust, eval/bench/run_load.sh), bounded: 20 and 50 clients for a few seconds
against a real server on SQLite and PostgreSQL, researchers and reviewers at once. No request
fails (no 5xx, no reset), the server logs no error, and every review the server acknowledged is
in the audit trail exactly once. Timings are the benchmark's (eval/results/), not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.conftest import fresh_database

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("clients", [20, 50])
def test_load(clients, backend, tiny_model, tmp_path):
    out = tmp_path / "load.md"
    env = {**os.environ, "USERS": str(clients), "SPAWN_RATE": str(clients), "RUN_TIME": "15s",
           "OUT": str(out), "PYTHON": sys.executable, "HF_HUB_OFFLINE": "1"}
    env.pop("PRECODE_DATABASE_URL", None)
    with fresh_database(backend, tmp_path) as url:
        if backend == "postgresql":
            env["PRECODE_DATABASE_URL"] = url
        run = subprocess.run(["bash", str(ROOT / "eval/bench/run_load.sh"), str(tiny_model)],
                             env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    total = summary["total"]
    assert total["requests"] > clients and total["failures"] == 0, summary["errors"]
    reviews = summary["reviews"]
    assert reviews["acknowledged"] > 0
    assert reviews["missing"] == 0 and reviews["duplicated"] == 0
    assert reviews["recorded_by_reviewers"] == reviews["acknowledged"]
    assert "Server log: 0 line(s)" in out.read_text()
