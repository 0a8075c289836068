"""The agreement report as a background computation, on SQLite and PostgreSQL: a large one is
answered 202 with Retry-After until it is ready, then served from the cache until the project's
data changes; one past its time limit is stopped and answered 422, never left running."""

from __future__ import annotations

import time

import pytest

from service.services.agreement_jobs import AgreementRunner, Params
from tests.service.conftest import TRANSCRIPT, make_settings, new_project, precode
from tests.service.test_api_projects import assert_problem


@pytest.fixture(scope="module")
def settings(tmp_path_factory, db_url):
    # every report counts as large: computed in a separate process, and nobody waits for it
    return make_settings(tmp_path_factory.mktemp("home"), db_url, agreement_inline_work=0,
                         agreement_wait_seconds=0, agreement_time_limit_seconds=120)


def poll(api, url: str, **params):
    """(the first answer, the final one)."""
    first = res = api.get(url, params=params)
    deadline = time.monotonic() + 120
    while res.status_code == 202:
        assert int(res.headers["Retry-After"]) >= 1 and res.json()["status"] == "running"
        assert time.monotonic() < deadline
        time.sleep(0.2)
        res = api.get(url, params=params)
    return first, res


@pytest.fixture(scope="module")
def project(owner) -> tuple[int, list]:
    pid = new_project(owner, codebook="npt,integrating")
    assert owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).status_code == 201
    precode(owner, pid)
    items = owner.get(f"/v1/projects/{pid}/suggestions").json()["items"]
    owner.post(f"/v1/projects/{pid}/suggestions/{items[0]['id']}/review",
               json={"action": "reject"})
    return pid, items


def test_large_agreement_runs_in_the_background_and_is_cached(owner, project):
    pid, items = project
    url = f"/v1/projects/{pid}/agreement"
    first, done = poll(owner, url, bootstrap=20)
    assert first.status_code == 202
    assert done.status_code == 200, done.text
    report = done.json()
    assert report["n_coders"] == 2 and report["n_boot"] == 20
    again = owner.get(url, params={"bootstrap": 20})  # the same data: from the cache at once
    assert again.status_code == 200 and again.json() == report
    # a decision changes the data: computed again, and it shows
    owner.post(f"/v1/projects/{pid}/suggestions/{items[0]['id']}/review",
               json={"action": "accept"})
    first, done = poll(owner, url, bootstrap=20)
    assert first.status_code == 202 and done.status_code == 200
    assert done.json()["disagreements"] != report["disagreements"]


def test_a_computation_past_its_time_limit_is_stopped(app, owner, project):
    from eval.agreement_io import Codings

    codings = Codings()
    for unit in range(400):
        for coder in ("a", "b", "c"):
            codings.add(coder, f"u{unit}", {f"code{(unit * len(coder)) % 7}"})
    runner = AgreementRunner(inline_work=0, time_limit=0.5)
    try:
        outcome = runner.submit(("p", "v"), codings, None, Params("multilabel", "nominal",
                                                                  10_000, 0)).result(60)
        assert outcome == ("too-long", 0.5)
        assert not runner._children  # the process is gone
        assert runner.result(("p", "v")) == ("too-long", 0.5)
    finally:
        runner.close()
    # answered 422 by the route
    pid = project[0]
    app.state.agreement.time_limit = 0.01
    try:
        _, res = poll(owner, f"/v1/projects/{pid}/agreement", bootstrap=5000)
    finally:
        app.state.agreement.time_limit = 120
    assert_problem(res, 422)
    assert "longer than the limit" in res.json()["detail"]
