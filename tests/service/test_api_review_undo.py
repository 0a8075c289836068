"""Undo: a coder withdraws their own decision and the suggestion is pending for them again. The
withdrawal is a review of its own in the audit trail, and the decision no longer counts
anywhere decided codes are read: progress, exports, agreement, the parent a sub-code implies,
the exemplar index -- on the real app with the tiny real model, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from tests.service.conftest import CSV_TABLE, TRANSCRIPT, api_for, new_project, precode
from tests.service.test_api_coders import detail, items, review
from tests.service.test_api_projects import assert_problem


def undo(api, pid, sid) -> dict:
    res = api.delete(f"/v1/projects/{pid}/suggestions/{sid}/review")
    assert res.status_code == 200, res.text
    assert int(res.headers["Review-Id"]) > 0
    return res.json()


def progress(api, pid) -> dict:
    res = api.get(f"/v1/projects/{pid}/progress")
    assert res.status_code == 200, res.text
    return res.json()


def rows_of(api, pid, **params) -> list[dict]:
    res = api.get(f"/v1/projects/{pid}/export.csv", params=params)
    assert res.status_code == 200, res.text
    return list(csv.DictReader(io.StringIO(res.text)))


@pytest.fixture(scope="module")
def proj(app, owner):
    """A pre-coded project with two coders and a viewer."""
    pid = new_project(owner, codebook="npt,integrating")
    for name, data in (("falls.txt", TRANSCRIPT), ("table.csv", CSV_TABLE)):
        assert owner.upload(pid, name, data.encode()).status_code == 201
    precode(owner, pid)
    out = {"pid": pid}
    for prefix, role in (("ana", "coder"), ("ben", "coder"), ("viewer", "viewer")):
        api = api_for(app, prefix)
        assert owner.post(f"/v1/projects/{pid}/members",
                          json={"user": api.name, "role": role}).status_code == 200
        out[prefix] = api
    return out


def test_undo_makes_a_decision_pending_again_and_keeps_the_trail(proj):
    pid, ana = proj["pid"], proj["ana"]
    target = next(s for s in items(ana, pid, status="pending", order="position")
                  if not s["implies"])
    before = progress(ana, pid)
    review(ana, pid, target["id"], "accept")
    assert progress(ana, pid)["decided"] == before["decided"] + 1

    back = undo(ana, pid, target["id"])
    assert (back["status"], back["decided_code"], back["decided_at"]) == ("pending", None, None)
    assert back["project_status"] == "pending"  # nobody else decided it
    assert back["decisions"] == []
    assert [(r["reviewer"], r["action"], r["code"]) for r in back["reviews"]] == [
        (ana.name, "accept", target["code"]), (ana.name, "undo", None)]
    assert target["id"] in {s["id"] for s in items(ana, pid, status="pending")}
    assert target["id"] not in {s["id"] for s in items(ana, pid, status="accepted")}
    after = progress(ana, pid)
    assert (after["decided"], after["pending"]) == (before["decided"], before["pending"])
    # the audit trail keeps both rows
    trail = ana.get(f"/v1/projects/{pid}/reviews",
                    params={"suggestion_id": target["id"]}).json()["items"]
    assert [r["action"] for r in trail] == ["accept", "undo"]
    # decided again after an undo: an ordinary decision
    again = review(ana, pid, target["id"], "reject")
    assert (again["status"], again["decided_code"]) == ("rejected", None)
    undo(ana, pid, target["id"])


def test_undo_with_nothing_decided_is_a_clear_conflict(proj):
    pid, ana, viewer = proj["pid"], proj["ana"], proj["viewer"]
    target = items(ana, pid, status="pending")[0]
    url = f"/v1/projects/{pid}/suggestions/{target['id']}/review"
    res = ana.delete(url)
    assert_problem(res, 409)
    assert "no decision" in res.json()["detail"]
    review(ana, pid, target["id"], "accept")
    undo(ana, pid, target["id"])
    assert_problem(ana.delete(url), 409)  # twice: the second finds nothing to undo
    review(ana, pid, target["id"], "accept")
    assert_problem(viewer.delete(url), 403)  # a viewer decides nothing, undoes nothing
    assert detail(ana, pid, target["id"])["status"] == "accepted"
    assert_problem(ana.delete(f"/v1/projects/{pid}/suggestions/99999999/review"), 404)
    undo(ana, pid, target["id"])


def test_undo_withdraws_only_your_own_decision(proj, owner):
    pid, ana, ben = proj["pid"], proj["ana"], proj["ben"]
    target = next(s for s in items(ana, pid, status="pending", order="position")
                  if not s["implies"])
    review(ben, pid, target["id"], "reject")
    review(ana, pid, target["id"], "accept")
    assert detail(owner, pid, target["id"])["project_status"] == "accepted"  # the latest
    undo(ana, pid, target["id"])
    # ben's decision stands, and is the project's view again
    assert detail(ben, pid, target["id"])["status"] == "rejected"
    seen = detail(owner, pid, target["id"])
    assert seen["project_status"] == "rejected"
    assert [(d["coder"], d["status"]) for d in seen["decisions"]] == [(ben.name, "rejected")]
    undo(ben, pid, target["id"])
    assert detail(owner, pid, target["id"])["project_status"] == "pending"
    # the consensus is not a coder's decision: an undo leaves it as it is
    review(ana, pid, target["id"], "accept")
    assert owner.post(f"/v1/projects/{pid}/suggestions/{target['id']}/consensus",
                      json={"action": "reject"}).status_code == 200
    undo(ana, pid, target["id"])
    settled = detail(owner, pid, target["id"])
    assert settled["consensus"]["status"] == "rejected"
    assert settled["project_status"] == "rejected"


def test_undoing_a_sub_code_withdraws_the_parent_it_decided(proj):
    pid, ana = proj["pid"], proj["ana"]
    leaf = next((s for s in items(ana, pid, status="pending") if s["implies"]), None)
    assert leaf is not None, "the model suggests no sub-code with its parent here"
    parent = leaf["implies"][0]
    review(ana, pid, leaf["id"], "accept")
    assert detail(ana, pid, parent["id"])["status"] == "accepted"
    # the parent follows the sub-code: it is undone through the sub-code, not on its own
    res = ana.delete(f"/v1/projects/{pid}/suggestions/{parent['id']}/review")
    assert_problem(res, 409)
    assert str(leaf["id"]) in res.json()["detail"]
    undo(ana, pid, leaf["id"])
    for sid in (leaf["id"], parent["id"]):
        got = detail(ana, pid, sid)
        assert (got["status"], got["decided_code"]) == ("pending", None)
        assert got["project_status"] == "pending"
    assert {leaf["id"], parent["id"]} <= {s["id"] for s in items(ana, pid, status="pending",
                                                                  parents="true")}


def test_an_undone_decision_leaves_exports_and_agreement(proj, owner):
    pid, ana, ben = proj["pid"], proj["ana"], proj["ben"]
    fresh = [s for s in items(ana, pid, status="pending", order="position")
             if s["project_status"] == "pending" and s["consensus"] is None]
    withdrawn = next(s for s in fresh if not s["implies"])
    kept = next(s for s in fresh if s["id"] != withdrawn["id"])
    review(ana, pid, kept["id"], "accept")
    review(ana, pid, withdrawn["id"], "accept")

    def coded(rows) -> set[tuple[str, str]]:
        return {(r["unit"].rsplit(":", 1)[1], r["code"]) for r in rows if r["code"]}

    def where(s) -> str:
        return f"{s['segment']['start']}-{s['segment']['end']}"

    assert (where(withdrawn), withdrawn["code"]) in coded(rows_of(owner, pid, coder=ana.name))
    undo(ana, pid, withdrawn["id"])
    anas = rows_of(owner, pid, coder=ana.name)
    assert (where(kept), kept["code"]) in coded(anas)
    assert (where(withdrawn), withdrawn["code"]) not in coded(anas)
    model = [r for r in rows_of(owner, pid) if r["coder"] == "precode model"
             and r["code"] == withdrawn["code"] and r["unit"].endswith(":" + where(withdrawn))]
    assert [(r["status"], r["reviewer"]) for r in model] == [("pending", "")]

    # a coder whose only decision is withdrawn no longer counts in the agreement
    assert progress(ben, pid)["decided"] == 0
    review(ben, pid, kept["id"], "accept")
    params = {"bootstrap": 0}
    pairs = owner.get(f"/v1/projects/{pid}/agreement/pairs", params=params)
    assert pairs.status_code == 200, pairs.text
    assert ben.name in pairs.json()["coders"]
    undo(ben, pid, kept["id"])
    assert progress(ben, pid)["decided"] == 0
    pairs = owner.get(f"/v1/projects/{pid}/agreement/pairs", params=params)
    assert pairs.status_code == 200, pairs.text
    assert ben.name not in pairs.json()["coders"]
    assert ben.name not in {r["coder"] for r in rows_of(owner, pid)}


def evidence_ids(api, pid: int, text: str) -> dict[str, list[str]]:
    body = {"segments": [{"id": "q", "text": text}], "min_confidence": 0.0}
    got = api.post(f"/v1/projects/{pid}/suggest", json=body).json()["segments"][0]
    return {s["code"]: [e["id"] for e in s["evidence"]] for s in got["suggestions"]}


def test_an_undone_acceptance_leaves_the_evidence_at_once(app, proj, owner):
    pid, ana = proj["pid"], proj["ana"]
    everything = items(owner, pid, parents="true")
    untouched = {s["segment"]["id"] for s in everything} - {
        s["segment"]["id"] for s in everything if s["project_status"] != "pending"}
    target = next(s for s in items(ana, pid, status="pending") if not s["implies"]
                  and s["segment"]["id"] in untouched)
    mine, text = f"segment-{target['segment']['id']}", target["segment"]["text"]
    review(ana, pid, target["id"], "accept")
    assert mine in evidence_ids(owner, pid, text)[target["code"]]
    undo(ana, pid, target["id"])
    assert all(mine not in ids for ids in evidence_ids(owner, pid, text).values())
    index = app.state.models.get(pid).suggester.index
    assert mine not in {ex.id for ex in index.exemplars}
