"""The review loop end to end: upload, pre-code (a job), review, exemplars, retrain, export,
agreement -- on the real app with the tiny real model, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest

from tests.service.conftest import CSV_TABLE, TRANSCRIPT, api_for, new_project, precode
from tests.service.test_api_projects import assert_problem

SENTENCE = "agreed what the new falls check was meant to achieve"


@pytest.fixture(scope="module")
def loop(app, owner):
    """A pre-coded project with a coder and a viewer."""
    pid = new_project(owner, codebook="npt,integrating")
    coder, viewer = api_for(app, "coder"), api_for(app, "viewer")
    for api, role in ((coder, "coder"), (viewer, "viewer")):
        owner.post(f"/v1/projects/{pid}/members", json={"user": api.name, "role": role})
    docs = [owner.upload(pid, name, data).json()["documents"][0]
            for name, data in (("falls.txt", TRANSCRIPT.encode()),
                               ("table.csv", CSV_TABLE.encode()))]
    job = precode(owner, pid)
    return {"pid": pid, "coder": coder, "viewer": viewer, "docs": docs, "job": job}


def suggestions(api, pid, **params) -> list[dict]:
    res = api.get(f"/v1/projects/{pid}/suggestions", params={"limit": 500, **params})
    assert res.status_code == 200, res.text
    return res.json()["items"]


def test_precode_job_reports_progress(loop, owner):
    job = loop["job"]
    assert (job["done"], job["total"], job["progress"]) == (2, 2, 1.0)
    assert job["result"]["suggestions"] > 0
    for doc in owner.get(f"/v1/projects/{loop['pid']}/documents").json():
        assert doc["precoded_at"] is not None
    items = suggestions(owner, loop["pid"])
    assert items and all(not s["segment"]["is_interviewer"] for s in items)
    assert {s["origin"] for s in items} == {"model"}
    assert all(s["evidence"] and s["confidence"] >= s["threshold"] for s in items)


def test_a_second_precode_skips_documents_already_done(loop, owner):
    before = len(suggestions(owner, loop["pid"]))
    job = precode(owner, loop["pid"])
    assert job["result"]["skipped"] == 2 and job["result"]["suggestions"] == 0
    assert len(suggestions(owner, loop["pid"])) == before


def test_most_informative_first_and_filters(loop, owner):
    pid = loop["pid"]
    items = suggestions(owner, pid)
    gaps = [s["uncertainty"] for s in items]
    assert gaps == sorted(gaps)
    assert gaps[0] == pytest.approx(abs(items[0]["confidence"] - items[0]["threshold"]), abs=1e-4)
    code = items[0]["code"]
    assert {s["code"] for s in suggestions(owner, pid, code=code)} == {code}
    doc = loop["docs"][1]["id"]
    assert {s["segment"]["document_id"] for s in suggestions(owner, pid, document_id=doc)} <= {doc}
    page = owner.get(f"/v1/projects/{pid}/suggestions", params={"limit": 1}).json()
    assert page["total"] == len(items) and len(page["items"]) == 1
    assert_problem(owner.get(f"/v1/projects/{pid}/suggestions", params={"status": "odd"}), 422)


def test_review_decisions_keep_an_audit_trail(loop, owner):
    pid, coder, viewer = loop["pid"], loop["coder"], loop["viewer"]
    first, second, third = suggestions(owner, pid, order="position")[:3]
    url = f"/v1/projects/{pid}/suggestions"
    assert_problem(viewer.post(f"{url}/{first['id']}/review", json={"action": "accept"}), 403)
    accepted = coder.post(f"{url}/{first['id']}/review", json={"action": "accept"}).json()
    assert (accepted["status"], accepted["decided_code"]) == ("accepted", first["code"])
    res = coder.post(f"{url}/{second['id']}/review", json={"action": "reject", "note": "no"})
    assert res.json()["status"] == "rejected" and res.json()["decided_code"] is None
    assert_problem(coder.post(f"{url}/{third['id']}/review",
                              json={"action": "change", "code": "no.such.code"}), 422)
    changed = coder.post(f"{url}/{third['id']}/review",
                         json={"action": "change", "code": "integrating.sensemaking"}).json()
    assert changed["decided_code"] == "integrating.sensemaking"
    again = owner.post(f"{url}/{second['id']}/review", json={"action": "accept"}).json()
    assert [(r["action"], r["reviewer"]) for r in again["reviews"]] == [
        ("reject", coder.name), ("accept", owner.name)]
    assert again["code"] == second["code"] and again["origin"] == "model"
    trail = owner.get(f"/v1/projects/{pid}/reviews", params={"reviewer": coder.name}).json()
    assert [r["action"] for r in trail["items"]] == ["accept", "reject", "change"]
    assert all(r["created_at"] for r in trail["items"])


def test_add_a_code_the_model_missed(loop, owner):
    pid, coder = loop["pid"], loop["coder"]
    segs = owner.get(f"/v1/projects/{pid}/documents/{loop['docs'][0]['id']}/segments").json()
    daughter = next(s for s in segs if "daughter" in s["text"])
    res = coder.post(f"/v1/projects/{pid}/codings",
                     json={"segment_id": daughter["id"], "code": "integrating.sensemaking"})
    assert res.status_code == 201, res.text
    added = res.json()
    assert (added["origin"], added["status"], added["confidence"]) == ("human", "accepted", None)
    assert added["reviews"][0]["action"] == "add"
    assert_problem(coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": daughter["id"], "code": "integrating.sensemaking"}), 409)
    assert_problem(coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": daughter["id"], "code": "made.up"}), 422)
    humans = suggestions(owner, pid, origin="human")
    assert [s["id"] for s in humans] == [added["id"]]


def test_accepted_coding_is_evidence_at_once(app, loop, owner):
    pid, coder = loop["pid"], loop["coder"]
    target = next(s for s in suggestions(owner, pid, status="pending")
                  if "bargained" in s["segment"]["text"] or "spreadsheet" in s["segment"]["text"])
    coder.post(f"/v1/projects/{pid}/suggestions/{target['id']}/review", json={"action": "accept"})
    body = {"segments": [{"id": "q", "text": target["segment"]["text"]}], "min_confidence": 0.0}
    got = owner.post(f"/v1/projects/{pid}/suggest", json=body).json()["segments"][0]
    evidence = {e["id"]: e for s in got["suggestions"] if s["code"] == target["code"]
                for e in s["evidence"]}
    mine = f"segment-{target['segment']['id']}"
    assert mine in evidence and evidence[mine]["similarity"] > 0.99
    shared = owner.post("/v1/suggest", json=body).json()["segments"][0]
    assert mine not in {e["id"] for s in shared["suggestions"] for e in s["evidence"]}


def evidence_ids(api, pid: int, text: str) -> dict[str, list[str]]:
    body = {"segments": [{"id": "q", "text": text}], "min_confidence": 0.0}
    got = api.post(f"/v1/projects/{pid}/suggest", json=body).json()["segments"][0]
    return {s["code"]: [e["id"] for e in s["evidence"]] for s in got["suggestions"]}


def test_a_withdrawn_coding_leaves_the_evidence_at_once(app, loop, owner):
    """Accepted, then rejected: the segment is no longer shown as evidence for the code; then
    changed to another code, it is an exemplar of that one instead."""
    pid, coder = loop["pid"], loop["coder"]
    target = next(s for s in suggestions(owner, pid, status="pending")
                  if s["code"] != "integrating.negotiating")
    mine, text = f"segment-{target['segment']['id']}", target["segment"]["text"]
    url = f"/v1/projects/{pid}/suggestions/{target['id']}/review"
    coder.post(url, json={"action": "accept"})
    assert mine in evidence_ids(owner, pid, text)[target["code"]]
    coder.post(url, json={"action": "reject"})
    assert all(mine not in ids for ids in evidence_ids(owner, pid, text).values())
    coder.post(url, json={"action": "change", "code": "integrating.negotiating"})
    assert mine not in evidence_ids(owner, pid, text).get(target["code"], [])
    index = app.state.models.get(pid).suggester.index
    assert [ex.codes for ex in index.exemplars if ex.id == mine] == [("integrating.negotiating",)]


def test_a_second_server_process_sees_every_decision(app, loop, owner, settings, tiny_suggester):
    """Two app instances over one database, as with `precode serve --workers 2`: a decision
    taken through one is evidence in the other's next suggestion, and a withdrawn one is not."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.service.conftest import Api

    pid = loop["pid"]
    target = next(s for s in suggestions(owner, pid, status="pending"))
    mine, text = f"segment-{target['segment']['id']}", target["segment"]["text"]
    other_app = create_app(settings, suggester=tiny_suggester)
    with TestClient(other_app) as client:
        other = Api(client, owner.headers["Authorization"].split()[1], owner.name)
        assert mine not in evidence_ids(other, pid, text).get(target["code"], [])  # loaded now
        url = f"/v1/projects/{pid}/suggestions/{target['id']}/review"
        loop["coder"].post(url, json={"action": "accept"})  # through the first app
        assert mine in evidence_ids(other, pid, text)[target["code"]]
        other.post(url, json={"action": "reject"})  # through the second
        assert all(mine not in ids for ids in evidence_ids(owner, pid, text).values())


def test_bulk_accept(app, loop, owner):
    """Pending is per person: a coder accepts what they have not decided; the owner's own
    pending suggestions stay pending."""
    pid, coder = loop["pid"], api_for(app, "bulk")
    owner.post(f"/v1/projects/{pid}/members", json={"user": coder.name, "role": "coder"})
    loop["bulk"] = coder
    pending = suggestions(coder, pid, status="pending")
    owners = len(suggestions(owner, pid, status="pending"))
    assert pending
    url = f"/v1/projects/{pid}/suggestions/bulk-accept"
    preview = coder.post(url, json={"dry_run": True}).json()
    assert (preview["accepted"], preview["dry_run"]) == (len(pending), True)
    assert len(suggestions(coder, pid, status="pending")) == len(pending)  # nothing recorded
    res = coder.post(url, json={"ids": [pending[0]["id"]], "note": "sure"}).json()
    assert res == {"accepted": 1, "ids": [pending[0]["id"]], "dry_run": False}
    rest = coder.post(url, json={}).json()
    assert rest["accepted"] == len(pending) - 1
    assert suggestions(coder, pid, status="pending") == []
    assert len(suggestions(owner, pid, status="pending")) == owners


def test_retrain_adds_a_model_version_and_keeps_the_old(loop, owner, settings):
    pid = loop["pid"]
    res = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "retrain"})
    assert res.status_code == 202
    job = owner.wait_job(res.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["version"] == 1 and job["result"]["n_reviewed_segments"] >= 4
    versions = owner.get(f"/v1/projects/{pid}/models").json()
    assert [(v["version"], v["current"]) for v in versions] == [(0, False), (1, True)]
    new_dir = Path(settings.home) / "projects" / str(pid) / "models" / "v1"
    assert (new_dir / "precode.json").exists()
    exemplars = (new_dir / "exemplars.jsonl").read_text()
    assert '"segment-' in exemplars
    redo = precode(owner, pid, redo=True, document_ids=[loop["docs"][0]["id"]])
    # the earlier ones were all accepted in bulk; parents included, as the job counts them
    fresh = suggestions(loop["bulk"], pid, status="pending", parents="true")
    assert len(fresh) == redo["result"]["suggestions"] > 0
    assert {s["model_version_id"] for s in fresh} == {versions[1]["id"]}


def test_exports_and_agreement_match_precode_agree(loop, owner, npt_integrating, tmp_path):
    from typer.testing import CliRunner

    from corpus.refi import read_qdpx, read_qdpx_codings
    from service.cli import app as cli
    from service.writers import MODEL_USER

    pid, coder = loop["pid"], loop["coder"]
    res = owner.get(f"/v1/projects/{pid}/export.qdpx")
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    path = tmp_path / "p.qdpx"
    path.write_bytes(res.content)
    project = read_qdpx(path)
    assert {MODEL_USER, coder.name, owner.name} <= set(project.users.values())
    assert sorted(s.name for s in project.sources.values()) == ["falls.txt", "table.csv"]
    by_coder = read_qdpx_codings(path)
    assert by_coder[MODEL_USER] and by_coder[coder.name]

    exported = owner.get(f"/v1/projects/{pid}/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["origin"] for r in rows} == {"model", "human"}
    csv_path = tmp_path / "codings.csv"
    csv_path.write_text(exported.text, encoding="utf-8")

    api = owner.get(f"/v1/projects/{pid}/agreement", params={"bootstrap": 50}).json()
    assert loop["viewer"].get(f"/v1/projects/{pid}/agreement",
                              params={"bootstrap": 0}).status_code == 200
    out = CliRunner().invoke(cli, ["agree", str(csv_path), "--codebook", "npt,integrating",
                                   "--bootstrap", "50", "--format", "json"])
    assert out.exit_code == 0, out.output
    cli_report = json.loads(out.stdout)
    assert api.pop("disagreements") is not None and cli_report.pop("disagreements") is not None
    assert api == cli_report
    assert MODEL_USER in api["coders"] and coder.name in api["coders"]


def test_interview_text_never_reaches_the_logs(app, owner, caplog):
    caplog.set_level(logging.DEBUG)
    pid = new_project(owner)
    doc = owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).json()["documents"][0]
    precode(owner, pid)
    item = suggestions(owner, pid)[0]
    owner.post(f"/v1/projects/{pid}/suggestions/{item['id']}/review", json={"action": "accept"})
    owner.upload(pid, "bad.csv", b"id,text\n1,\n")
    owner.get(f"/v1/projects/{pid}/export.qdpx")
    assert doc["n_segments"] > 0
    assert SENTENCE not in caplog.text and "spreadsheet" not in caplog.text


def test_a_decision_committed_out_of_order_still_becomes_evidence(app, loop, owner, backend):
    """With PostgreSQL a review can commit after a newer one was already read: it must still
    reach the exemplar index."""
    if backend != "postgresql":
        pytest.skip("SQLite commits one writer at a time: reviews cannot commit out of order")
    from service.db.models import Review, Suggestion

    pid = loop["pid"]
    pending = suggestions(owner, pid, status="pending")
    first = pending[0]
    second = next(s for s in pending if s["segment"]["id"] != first["segment"]["id"])
    me = owner.get("/v1/users/me").json()["id"]
    slow = app.state.sessions()
    row = slow.get(Suggestion, first["id"])
    row.status, row.decided_code = "accepted", row.code
    slow.add(Review(project_id=pid, suggestion_id=row.id, action="accept", code=row.code,
                    reviewer_id=me))
    slow.flush()  # its id is taken now, but it is not committed yet
    url = f"/v1/projects/{pid}/suggestions/{second['id']}/review"
    assert owner.post(url, json={"action": "accept"}).status_code == 200  # a newer id, committed
    evidence_ids(owner, pid, second["segment"]["text"])  # the server reads up to the newer id
    slow.commit()
    slow.close()
    mine = f"segment-{first['segment']['id']}"
    assert mine in evidence_ids(owner, pid, first["segment"]["text"]).get(first["code"], [])
