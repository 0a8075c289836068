"""Many requests at once, on SQLite and PostgreSQL: no request holds more than one database
connection at a time (none while it waits for a project's model), a full pool is answered 503
with Retry-After (never a 500 or a hang), and a retried review (same Idempotency-Key) is recorded
once."""

from __future__ import annotations

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from service.db.models import Review
from tests.service.conftest import TRANSCRIPT, api_for, make_settings, new_project, precode
from tests.service.test_api_projects import assert_problem

CLIENTS = 24


@pytest.fixture(scope="module")
def settings(tmp_path_factory, db_url):
    # few threads and a small pool: a request holding two connections would run dry at once
    return make_settings(tmp_path_factory.mktemp("home"), db_url, request_threads=6,
                         db_wait_seconds=1.0, retry_after_seconds=3)


@pytest.fixture(scope="module")
def engine(app):
    return app.state.sessions.kw["bind"]


@pytest.fixture(scope="module")
def project(app, owner):
    pid = new_project(owner, codebook="npt,integrating")
    coder = api_for(app, "coder")
    owner.post(f"/v1/projects/{pid}/members", json={"user": coder.name, "role": "coder"})
    for n in range(3):
        res = owner.upload(pid, f"falls-{n}.txt", TRANSCRIPT.encode())
        assert res.status_code == 201, res.text
    precode(owner, pid)
    # the project's model is loaded: each decision is taken into it as it is made
    assert owner.post(f"/v1/projects/{pid}/suggest",
                      json={"segments": [{"id": "a", "text": "we agreed"}]}).status_code == 200
    items = owner.get(f"/v1/projects/{pid}/suggestions", params={"limit": 500}).json()["items"]
    assert len(items) >= 6
    return {"pid": pid, "coder": coder, "ids": [s["id"] for s in items]}


def review_count(app, pid: int) -> int:
    with app.state.sessions() as session:
        return session.scalar(select(func.count(Review.id)).where(Review.project_id == pid))


def test_concurrent_reviews_with_the_model_loaded(app, engine, project):
    pid, coder, ids = project["pid"], project["coder"], project["ids"]
    """Four times more clients than request threads, and the pool one connection per thread
    (plus the job workers'): a request holding a connection while it waits for a thread or for
    the project's model (and opening a second one there) would leave the pool dry and get
    503s; none does."""
    before = review_count(app, pid)
    checked_out, most = [0], [0]

    def checkout(*_):
        checked_out[0] += 1
        most[0] = max(most[0], checked_out[0])

    def checkin(*_):
        checked_out[0] -= 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        def send(n: int):
            return coder.post(f"/v1/projects/{pid}/suggestions/{ids[n % len(ids)]}/review",
                              json={"action": "accept" if n % 2 else "reject"},
                              headers={"Idempotency-Key": f"load-{pid}-{n}"})

        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(send, range(3 * CLIENTS)))
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
    assert Counter(a.status_code for a in answers) == {200: 3 * CLIENTS}
    assert review_count(app, pid) == before + 3 * CLIENTS
    assert most[0] < app.state.settings.pool_size()


def test_a_retried_review_is_recorded_once(app, owner, project):
    pid, coder, sid = project["pid"], project["coder"], project["ids"][0]
    url = f"/v1/projects/{pid}/suggestions/{sid}/review"
    key = {"Idempotency-Key": str(uuid.uuid4())}
    before = review_count(app, pid)
    with ThreadPoolExecutor(8) as pool:  # the same retry sent several times at once
        answers = list(pool.map(lambda _: coder.post(url, json={"action": "accept"},
                                                     headers=key), range(8)))
    assert {a.status_code for a in answers} == {200}
    assert review_count(app, pid) == before + 1
    assert sum(a.headers.get("Idempotency-Replayed") == "true" for a in answers) == 7
    assert len({a.headers["Review-Id"] for a in answers}) == 1
    # the key names that decision only: another decision under it is refused
    other = coder.post(url, json={"action": "reject"}, headers=key)
    assert_problem(other, 422)
    assert "Idempotency-Key" in other.json()["detail"]
    assert review_count(app, pid) == before + 1
    # a key is each user's own: another user sending it records their own decision
    again = owner.post(url, json={"action": "accept"}, headers=key)
    assert again.status_code == 200 and "Idempotency-Replayed" not in again.headers
    assert review_count(app, pid) == before + 2
    assert_problem(coder.post(url, json={"action": "accept"},
                              headers={"Idempotency-Key": "bad key with spaces"}), 422)


def test_a_full_pool_is_answered_503_with_retry_after(app, engine, project, settings):
    pid, coder = project["pid"], project["coder"]
    held = [engine.connect() for _ in range(settings.pool_size())]
    try:
        res = coder.get(f"/v1/projects/{pid}/suggestions")
        assert_problem(res, 503)
        assert res.headers["Retry-After"] == "3"
        res = coder.post(f"/v1/projects/{pid}/suggestions/{project['ids'][0]}/review",
                         json={"action": "accept"})
        assert_problem(res, 503)
        assert res.headers["Retry-After"] == "3"
    finally:
        for connection in held:
            connection.close()
    assert coder.get(f"/v1/projects/{pid}/suggestions").status_code == 200
