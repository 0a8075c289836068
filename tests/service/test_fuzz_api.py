"""Schema-driven fuzzing of the whole API (schemathesis), in-process over ASGI, no network.

Every operation of the app's own OpenAPI schema gets generated requests, valid and invalid
(explicit examples, boundary "coverage" cases and random fuzzing), sent with the token of a
project owner. The database is seeded first with a project, documents, a pre-coding job, its
suggestions and a review, and each id in a path (and a body's ``segment_id``, ``document_id`` or
``code``) is either the generated value or one of those real ones, so the ID routes answer with
real objects rather than only 404s. No answer may be a server error, and every answer must match the
schema (status code, content type, body).

The fuzzed app runs with no job worker: jobs that fuzzing queues stay queued (their routes are
still exercised), so no retraining runs in the background of the test.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.service.conftest import CSV_TABLE, TRANSCRIPT, api_for, make_settings, new_project, precode

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 12  # fuzzing examples per operation, on top of the examples and coverage phases
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, tiny_suggester):
    """An app over a database holding real objects, the owner's token and those objects' ids."""
    home = tmp_path_factory.mktemp("fuzz-home")
    url = f"sqlite:///{home / 'precode.db'}"
    seeder = create_app(make_settings(home, url), suggester=tiny_suggester)
    with TestClient(seeder) as client:
        seeder.state.client = client
        owner = api_for(seeder, "owner", admin=True)
        coder = api_for(seeder, "coder")
        pid = new_project(owner, codebook="npt,integrating")
        res = owner.post(f"/v1/projects/{pid}/members", json={"user": coder.name, "role": "coder"})
        assert res.status_code == 200, res.text
        uploads = [owner.upload(pid, name, data).json()
                   for name, data in (("falls.txt", TRANSCRIPT.encode()),
                                      ("table.csv", CSV_TABLE.encode()))]
        job = precode(owner, pid)
        items = owner.get(f"/v1/projects/{pid}/suggestions", params={"limit": 500}).json()["items"]
        assert items, "the seeded project has no suggestions"
        res = coder.post(f"/v1/projects/{pid}/suggestions/{items[0]['id']}/review",
                         json={"action": "accept"})
        assert res.status_code == 200, res.text
        segments = owner.get(f"/v1/projects/{pid}/documents/"
                             f"{uploads[0]['documents'][0]['id']}/segments").json()
        users = owner.get(f"/v1/projects/{pid}/members").json()
        token = owner.headers["Authorization"]
    ids = {"project_id": [pid],
           "document_id": [d["id"] for u in uploads for d in u["documents"]],
           "upload_id": [u["upload"]["id"] for u in uploads],
           "suggestion_id": [s["id"] for s in items[:5]],
           "segment_id": [s["id"] for s in segments[:5]],
           "job_id": [job["id"]],
           "user_id": [u["user_id"] for u in users],
           "code": sorted({s["code"] for s in items})[:5]}
    app = create_app(make_settings(home, url, job_workers=0, max_upload_bytes=200_000),
                     suggester=tiny_suggester)
    return app, token, ids


def _schema():
    """The app's OpenAPI schema. Building the app loads no model and opens no database (that
    happens in its lifespan), so the schema is known when pytest collects the tests."""
    from service.settings import Settings

    config = schemathesis.Config.from_dict({
        "seed": 20240601,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
    })
    return schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=config)


schema = _schema()
REAL: dict[str, list] = {}  # filled by the ``fuzz_app`` fixture before any generation


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Each path id: the generated value or one of the seeded objects' real ids."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.fixed_dictionaries({
        name: st.sampled_from([value, *REAL[name]]) if REAL.get(name) else st.just(value)
        for name, value in path_parameters.items()})


@schema.hook
def flatmap_body(context, body):
    """A body's segment id, document id or code: the generated value or a real one."""
    if not isinstance(body, dict):
        return st.just(body)
    swaps = {name: st.sampled_from([value, *REAL[name]]) for name, value in body.items()
             if name in ("segment_id", "document_id", "code") and REAL.get(name)
             and type(value) is type(REAL[name][0])}
    if not swaps:
        return st.just(body)
    return st.fixed_dictionaries(swaps).map(lambda real: {**body, **real})


@pytest.fixture(scope="module")
def fuzz_app(seeded):
    app, token, ids = seeded
    REAL.clear()
    REAL.update(ids)
    return app, {"Authorization": token}


@schema.parametrize()
def test_no_server_error_and_answers_match_the_schema(case, fuzz_app):
    app, headers = fuzz_app
    case.call_and_validate(app=app, headers=headers, checks=CHECKS)
