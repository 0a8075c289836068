"""Load test of the precode HTTP API (locust).

Each simulated client mostly asks for suggestions (``POST /v1/suggest``) for 1 to 8 interview
segments drawn from the seed corpus (participants' turns, as a researcher would send them), and
now and then lists a project's suggestions to review or checks ``GET /healthz``. One client in
three is a reviewer instead: it accepts or rejects the project's suggestions (each decision with
its own ``Idempotency-Key``, sent again with the same key after a lost answer) and asks the
project's model for suggestions, so every decision is taken into a loaded model as it is made.
At the end, every acknowledged decision is looked up in the project's audit trail: each must be
there exactly once.

    PRECODE_TOKEN=...  PRECODE_PROJECT=7  locust -f eval/bench/locustfile.py --headless \\
        -u 20 -r 5 -t 60s --host http://127.0.0.1:8000

With ``PRECODE_LOAD_PROFILE=suggest`` (``precode bench speed``) every client only asks for
suggestions, 1 to 8 segments a request, with no pause between requests, and no project is made.
``PRECODE_LOAD_SEGMENTS`` sets the segments a request (``1-8`` by default, ``1`` for one).

``PRECODE_TOKEN`` is an API token (``precode users create NAME --admin`` prints one).
``PRECODE_PROJECT`` is a project with suggestions to list; without it, one is made at the start
(a transcript assembled from the seed corpus, uploaded and pre-coded), which counts against the
run time. ``python eval/bench/locustfile.py --prepare HOST`` makes that project beforehand and prints
its id: ``eval/bench/run_load.sh`` does so, then runs locust and writes ``eval/results/service.md``
from the final statistics, written as JSON to ``PRECODE_LOAD_SUMMARY`` when that is set.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.request
import uuid

SEED = 0
# "mixed" (researchers and reviewers, as above) or "suggest" (clients that only ask for
# suggestions, without pausing)
SUGGEST_ONLY = os.environ.get("PRECODE_LOAD_PROFILE", "mixed") == "suggest"
# segments a suggestion request sends: "LOW-HIGH" drawn evenly, or one number
_SEGMENTS = os.environ.get("PRECODE_LOAD_SEGMENTS", "1-8").split("-")
SEGMENTS_PER_REQUEST = (int(_SEGMENTS[0]), int(_SEGMENTS[-1]))
PREPARE_TIMEOUT_S = 300


def _seed_excerpts():
    from corpus.seed_corpus import load_seed

    return load_seed()


def participant_segments() -> list[str]:
    """The seed corpus's participant turns: realistic segments to code."""
    return [e.text for e in _seed_excerpts() if e.meta.get("speaker_role") != "interviewer"]


def seed_transcript() -> str:
    """One interview from the seed corpus (its first scenario), as a plain-text transcript."""
    excerpts = _seed_excerpts()
    scenario = excerpts[0].meta.get("scenario")
    lines = [f"{'Interviewer' if e.meta.get('speaker_role') == 'interviewer' else 'P1'}: {e.text}"
             for e in excerpts if e.meta.get("scenario") == scenario]
    return "\n".join(lines) + "\n"


# ---- preparing a project (stdlib only, so it also runs without locust's event loop) ----------
def _call(host: str, token: str, method: str, path: str, *, body: bytes | None = None,
          content_type: str = "application/json") -> dict:
    request = urllib.request.Request(host.rstrip("/") + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"{}")


def prepare_project(host: str, token: str) -> int:
    """A new project with one seed transcript uploaded and pre-coded; its id."""
    project = _call(host, token, "POST", "/v1/projects",
                    body=json.dumps({"name": f"load test {time.strftime('%Y-%m-%d %H:%M:%S')}"}
                                    ).encode())
    pid = project["id"]
    boundary = "precode-load-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"seed-interview.txt\"\r\nContent-Type: text/plain\r\n\r\n"
            f"{seed_transcript()}\r\n--{boundary}--\r\n").encode()
    _call(host, token, "POST", f"/v1/projects/{pid}/documents", body=body,
          content_type=f"multipart/form-data; boundary={boundary}")
    job = _call(host, token, "POST", f"/v1/projects/{pid}/jobs",
                body=json.dumps({"kind": "precode"}).encode())
    deadline = time.monotonic() + PREPARE_TIMEOUT_S
    while job["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"pre-coding job {job['id']} did not finish in "
                               f"{PREPARE_TIMEOUT_S} s")
        time.sleep(0.5)
        job = _call(host, token, "GET", f"/v1/jobs/{job['id']}")
    if job["status"] != "succeeded":
        raise RuntimeError(f"pre-coding job {job['id']} failed: {job.get('error')}")
    return pid


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--prepare":
        sys.exit("usage: PRECODE_TOKEN=... python eval/bench/locustfile.py --prepare HOST")
    print(prepare_project(sys.argv[2], os.environ["PRECODE_TOKEN"]))
    sys.exit(0)


# ---- the load ----------------------------------------------------------------------------------
from locust import HttpUser, between, constant, events, task  # noqa: E402

SEGMENTS = participant_segments()
_project: dict[str, int] = {}
_segments_sent = [0]  # in answered suggestion requests
_acknowledged: dict[str, int] = {}  # Idempotency-Key -> the review id the server answered with
_suggestion_ids: list[int] = []
_users = iter(range(10**9))


_environment: list = []


@events.init.add_listener
def _on_init(environment, **_kwargs):
    _environment.append(environment)


@events.quit.add_listener
def _on_quit(**_kwargs):
    """With PRECODE_LOAD_SUMMARY set: the final statistics there as JSON (the CSV files are
    snapshots taken every second, which can miss the last requests)."""
    path = os.environ.get("PRECODE_LOAD_SUMMARY")
    if not path or not _environment or _environment[0].runner is None:
        return
    stats = _environment[0].runner.stats

    def entry(e) -> dict:
        return {"name": e.name, "method": e.method, "requests": e.num_requests,
                "failures": e.num_failures, "requests_per_s": e.total_rps,
                "p50_ms": e.get_response_time_percentile(0.5),
                "p99_ms": e.get_response_time_percentile(0.99),
                "max_ms": e.max_response_time}

    summary = {"endpoints": [entry(e) for e in sorted(stats.entries.values(),
                                                      key=lambda e: e.name)],
               "total": entry(stats.total), "suggest_segments": _segments_sent[0],
               "reviews": _check_reviews(_environment[0].host),
               "errors": [{"name": e.name, "method": e.method, "error": str(e.error),
                           "occurrences": e.occurrences} for e in stats.errors.values()]}
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)


def _check_reviews(host: str | None) -> dict:
    """Every decision the server acknowledged (200), looked up in the audit trail: how many
    are there once, missing, or more than once (a retry recorded twice)."""
    if not host or "id" not in _project or not _acknowledged:
        return {"acknowledged": len(_acknowledged)}
    token, pid = os.environ["PRECODE_TOKEN"], _project["id"]
    seen: dict[int, int] = {}
    offset = 0
    while True:
        page = _call(host, token, "GET", f"/v1/projects/{pid}/reviews?limit=1000&offset={offset}")
        for item in page["items"]:
            seen[item["id"]] = seen.get(item["id"], 0) + 1
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            break
    ids = list(_acknowledged.values())
    return {"acknowledged": len(ids), "distinct": len(set(ids)),
            "missing": sum(1 for i in set(ids) if i not in seen),
            "duplicated": len(ids) - len(set(ids)),
            "recorded_by_reviewers": sum(seen.values())}


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs):
    if SUGGEST_ONLY:
        return
    if os.environ.get("PRECODE_PROJECT"):
        _project["id"] = int(os.environ["PRECODE_PROJECT"])
    elif environment.host:
        _project["id"] = prepare_project(environment.host, os.environ["PRECODE_TOKEN"])


class Researcher(HttpUser):
    """A client of the API: mostly suggestions for a few segments at a time."""

    weight = 0 if SUGGEST_ONLY else 2
    wait_time = between(0.5, 1.5)

    def on_start(self):
        token = os.environ.get("PRECODE_TOKEN")
        if not token:
            raise RuntimeError("set PRECODE_TOKEN to an API token")
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.rng = random.Random(SEED * 1000 + next(_users))

    @task(10)
    def suggest(self):
        n = self.rng.randint(*SEGMENTS_PER_REQUEST)
        segments = [{"id": f"seg-{i}", "text": self.rng.choice(SEGMENTS)} for i in range(n)]
        with self.client.post("/v1/suggest", json={"segments": segments},
                              name="POST /v1/suggest", catch_response=True) as res:
            if res.status_code != 200:
                res.failure(f"status {res.status_code}")
            elif [s["id"] for s in res.json()["segments"]] != [s["id"] for s in segments]:
                res.failure("the answer does not list the segments sent")
            else:
                _segments_sent[0] += n

    @task(2)
    def list_suggestions(self):
        if "id" not in _project:
            return
        with self.client.get(f"/v1/projects/{_project['id']}/suggestions",
                             params={"limit": 50, "order": "uncertainty"},
                             name="GET /v1/projects/{id}/suggestions",
                             catch_response=True) as res:
            if res.status_code != 200:
                res.failure(f"status {res.status_code}")
            elif "items" not in res.json():
                res.failure("no items in the page")

    @task(1)
    def healthz(self):
        with self.client.get("/healthz", name="GET /healthz", catch_response=True) as res:
            if res.status_code != 200:
                res.failure(f"status {res.status_code}")


class Reviewer(HttpUser):
    """A coder working through the project's suggestions: accept or reject, one decision at a
    time, with the project's model in use (suggestions from it now and then)."""

    weight = 0 if SUGGEST_ONLY else 1
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {os.environ['PRECODE_TOKEN']}"
        self.rng = random.Random(SEED * 1000 + 500 + next(_users))

    def _suggestion_ids(self) -> list[int]:
        if not _suggestion_ids and "id" in _project:
            res = self.client.get(f"/v1/projects/{_project['id']}/suggestions",
                                  params={"limit": 500}, name="GET /v1/projects/{id}/suggestions")
            if res.status_code == 200:
                _suggestion_ids.extend(s["id"] for s in res.json()["items"])
        return _suggestion_ids

    @task(4)
    def review(self):
        ids = self._suggestion_ids()
        if not ids:
            return
        key = str(uuid.uuid4())
        url = f"/v1/projects/{_project['id']}/suggestions/{self.rng.choice(ids)}/review"
        body = {"action": self.rng.choice(["accept", "reject"])}
        for _attempt in range(3):  # a lost answer is sent again, with the same key
            with self.client.post(url, json=body, headers={"Idempotency-Key": key},
                                  name="POST /v1/projects/{id}/suggestions/{id}/review",
                                  catch_response=True) as res:
                if res.status_code == 200:
                    _acknowledged[key] = int(res.headers["Review-Id"])
                    return
                if res.status_code not in (0, 503):
                    res.failure(f"status {res.status_code}")
                    return
                res.failure(f"status {res.status_code} (sent again)")

    @task(1)
    def project_suggest(self):
        if "id" not in _project:
            return
        text = self.rng.choice(SEGMENTS)
        with self.client.post(f"/v1/projects/{_project['id']}/suggest",
                              json={"segments": [{"id": "s", "text": text}]},
                              name="POST /v1/projects/{id}/suggest",
                              catch_response=True) as res:
            if res.status_code != 200:
                res.failure(f"status {res.status_code}")


class SuggestClient(HttpUser):
    """A client that only asks for suggestions, as a researcher does, with no pause between
    requests (the profile ``suggest``)."""

    weight = 1 if SUGGEST_ONLY else 0
    wait_time = constant(0)
    on_start = Researcher.on_start
    suggest = Researcher.suggest
