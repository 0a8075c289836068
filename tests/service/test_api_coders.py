"""Review semantics a methodologist accepts: each coder's decisions are their own, the consensus
is a step of its own, a sub-code and the parent it implies are one suggestion, blind coding hides
the model's suggestions until a coder coded the segment, memos per segment, and exports and
agreement built from each coder's own decisions -- on the real app with the tiny real model, on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from service.services.users import CONSENSUS_USER, MODEL_USER
from tests.service.conftest import CSV_TABLE, TRANSCRIPT, api_for, new_project, precode
from tests.service.test_api_projects import assert_problem

NS = "{urn:QDA-XML:project:1.0}"


def items(api, pid, **params) -> list[dict]:
    res = api.get(f"/v1/projects/{pid}/suggestions", params={"limit": 500, **params})
    assert res.status_code == 200, res.text
    return res.json()["items"]


def review(api, pid, sid, action, **body) -> dict:
    res = api.post(f"/v1/projects/{pid}/suggestions/{sid}/review",
                   json={"action": action, **body})
    assert res.status_code == 200, res.text
    return res.json()


def detail(api, pid, sid) -> dict:
    res = api.get(f"/v1/projects/{pid}/suggestions/{sid}")
    assert res.status_code == 200, res.text
    return res.json()


def member(owner, pid, app, prefix, role="coder"):
    api = api_for(app, prefix)
    assert owner.post(f"/v1/projects/{pid}/members",
                      json={"user": api.name, "role": role}).status_code == 200
    return api


@pytest.fixture(scope="module")
def two(app, owner):
    """A pre-coded project with two coders and a viewer."""
    pid = new_project(owner, codebook="npt,integrating")
    for name, data in (("falls.txt", TRANSCRIPT), ("table.csv", CSV_TABLE)):
        assert owner.upload(pid, name, data.encode()).status_code == 201
    precode(owner, pid)
    return {"pid": pid, "ana": member(owner, pid, app, "ana"),
            "ben": member(owner, pid, app, "ben"),
            "viewer": member(owner, pid, app, "viewer", "viewer")}


def with_parent(api, pid) -> dict:
    """A sub-code suggestion that stands for its parent's."""
    found = [s for s in items(api, pid, status="pending") if s["implies"]]
    assert found, "the model suggests no sub-code with its parent here"
    return found[0]


def test_two_coders_decide_the_same_suggestion_independently(two, owner):
    pid, ana, ben = two["pid"], two["ana"], two["ben"]
    target = next(s for s in items(ana, pid, status="pending", order="position")
                  if not s["implies"])
    assert review(ana, pid, target["id"], "accept")["status"] == "accepted"
    after = review(ben, pid, target["id"], "reject", note="not about the team")
    assert (after["status"], after["decided_code"]) == ("rejected", None)
    # ana's decision survives ben's, and each sees their own
    mine = detail(ana, pid, target["id"])
    assert (mine["status"], mine["decided_code"]) == ("accepted", target["code"])
    assert mine["decided_at"] is not None
    assert {(d["coder"], d["status"]) for d in mine["decisions"]} == {
        (ana.name, "accepted"), (ben.name, "rejected")}
    assert target["id"] not in {s["id"] for s in items(ana, pid, status="pending")}
    assert target["id"] in {s["id"] for s in items(ana, pid, status="accepted")}
    assert target["id"] in {s["id"] for s in items(ben, pid, status="rejected")}
    progress = ana.get(f"/v1/projects/{pid}/progress").json()
    assert (progress["accepted"], progress["decided"]) == (1, 1)
    assert progress["pending"] == len(items(ana, pid, status="pending"))
    assert sum(d["pending"] for d in progress["documents"]) == progress["pending"]
    # the owner decided nothing: still pending for them
    assert target["id"] in {s["id"] for s in items(owner, pid, status="pending")}
    trail = owner.get(f"/v1/projects/{pid}/reviews",
                      params={"suggestion_id": target["id"]}).json()["items"]
    assert [(r["reviewer"], r["action"]) for r in trail] == [(ana.name, "accept"),
                                                             (ben.name, "reject")]
    two["split"] = target


def test_deciding_a_sub_code_decides_its_parent(two):
    pid, ana, ben = two["pid"], two["ana"], two["ben"]
    leaf = with_parent(ana, pid)
    [parent] = leaf["implies"][:1]
    listed = {s["id"] for s in items(ana, pid)}
    assert parent["id"] not in listed  # one item per sub-code, its parent implied
    assert parent["id"] in {s["id"] for s in items(ana, pid, parents="true")}
    review(ana, pid, leaf["id"], "accept")
    decided = detail(ana, pid, parent["id"])
    assert (decided["status"], decided["decided_code"]) == ("accepted", parent["code"])
    assert detail(ben, pid, parent["id"])["status"] == "pending"  # ana's, not ben's
    review(ana, pid, leaf["id"], "reject")
    assert detail(ana, pid, parent["id"])["status"] == "rejected"
    # changed to another code under the same parent: the parent still holds
    sibling = next(c for c in ana.get(f"/v1/projects/{pid}/codebook").json()["codes"]
                   if c["parent"] == parent["code"] and c["id"] != leaf["code"])
    review(ana, pid, leaf["id"], "change", code=sibling["id"])
    assert detail(ana, pid, parent["id"])["status"] == "accepted"
    review(ana, pid, leaf["id"], "accept")
    two["leaf"], two["parent"] = leaf, parent


def test_the_consensus_is_a_step_of_its_own(two, owner):
    pid, ana, ben = two["pid"], two["ana"], two["ben"]
    split = two["split"]
    url = f"/v1/projects/{pid}/suggestions/{split['id']}/consensus"
    assert detail(owner, pid, split["id"])["consensus"] is None
    assert_problem(ana.post(url, json={"action": "accept"}), 403)
    res = owner.post(url, json={"action": "accept", "note": "agreed in the meeting"})
    assert res.status_code == 200, res.text
    settled = res.json()
    assert settled["consensus"]["status"] == "accepted"
    assert settled["consensus"]["by"] == owner.name and settled["consensus"]["at"]
    assert settled["project_status"] == "accepted"
    # the coders' own decisions are as they were
    assert detail(ana, pid, split["id"])["status"] == "accepted"
    assert detail(ben, pid, split["id"])["status"] == "rejected"
    assert split["id"] in {s["id"] for s in items(owner, pid, consensus="accepted")}
    # a coder's later decision does not move the consensus
    review(ben, pid, split["id"], "reject", note="still no")
    assert detail(owner, pid, split["id"])["project_status"] == "accepted"
    # a consensus on a sub-code settles its parent too
    leaf, parent = two["leaf"], two["parent"]
    owner.post(f"/v1/projects/{pid}/suggestions/{leaf['id']}/consensus",
               json={"action": "accept"})
    assert detail(owner, pid, parent["id"])["consensus"]["status"] == "accepted"
    actions = [r["action"] for r in owner.get(f"/v1/projects/{pid}/reviews",
                                              params={"limit": 1000}).json()["items"]]
    assert actions.count("consensus") == 2


def test_memos_per_segment_and_coder(two, owner):
    pid, ana, ben, viewer = two["pid"], two["ana"], two["ben"], two["viewer"]
    segment = two["split"]["segment"]["id"]
    url = f"/v1/projects/{pid}/segments/{segment}/memos"
    res = ana.post(url, json={"text": "she is quoting her manager"})
    assert res.status_code == 201, res.text
    memo = res.json()
    assert (memo["author"], memo["segment_id"]) == (ana.name, segment)
    assert ben.post(url, json={"text": "team talk"}).status_code == 201
    assert_problem(viewer.post(url, json={"text": "no"}), 403)
    assert_problem(ana.post(url, json={"text": ""}), 422)
    assert [m["author"] for m in ana.get(url).json()] == [ana.name, ben.name]
    assert [m["text"] for m in ana.get(url, params={"author": ben.name}).json()] == ["team talk"]
    changed = ana.patch(f"/v1/projects/{pid}/memos/{memo['id']}",
                        json={"text": "quoting her manager, not her own view"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["text"] == "quoting her manager, not her own view"
    assert changed.json()["updated_at"] >= memo["updated_at"]
    assert_problem(ben.patch(f"/v1/projects/{pid}/memos/{memo['id']}", json={"text": "x"}), 403)
    everything = owner.get(f"/v1/projects/{pid}/memos").json()
    assert [m["text"] for m in everything][:1] == ["quoting her manager, not her own view"]
    assert_problem(ana.get(f"/v1/projects/{pid}/segments/999999/memos"), 404)


def rows_of(api, pid, **params) -> list[dict]:
    res = api.get(f"/v1/projects/{pid}/export.csv", params=params)
    assert res.status_code == 200, res.text
    return list(csv.DictReader(io.StringIO(res.text)))


def recent(stamp: str) -> bool:
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return abs(datetime.now(UTC) - when) < timedelta(hours=1)


def test_csv_export_per_coder_with_status_reviewer_and_dates(two, owner):
    pid, ana, ben = two["pid"], two["ana"], two["ben"]
    split, leaf, parent = two["split"], two["leaf"], two["parent"]
    header = owner.get(f"/v1/projects/{pid}/export.csv").text.splitlines()[0].split(",")
    assert header[-4:] == ["status", "reviewer", "suggested_at", "decided_at"]
    anas = rows_of(owner, pid, coder=ana.name)
    assert {r["coder"] for r in anas} == {ana.name}
    coded = {(r["unit"].rsplit(":", 1)[1], r["code"]) for r in anas if r["code"]}
    where = f"{split['segment']['start']}-{split['segment']['end']}"
    assert (where, split["code"]) in coded
    here = f"{leaf['segment']['start']}-{leaf['segment']['end']}"
    assert {(here, leaf["code"]), (here, parent["code"])} <= coded
    assert all(r["status"] in ("accepted", "changed") and r["reviewer"] == ana.name
               and recent(r["decided_at"]) and recent(r["suggested_at"])
               for r in anas if r["code"])
    # ben rejected it: no coding of his, the unit seen and marked rejected
    bens = rows_of(owner, pid, coder=ben.name)
    assert (where, split["code"]) not in {(r["unit"].rsplit(":", 1)[1], r["code"])
                                          for r in bens}
    assert any(r["unit"].endswith(where) and r["code"] == "" and r["status"] == "rejected"
               for r in bens)
    consensus = rows_of(owner, pid, consensus="true")
    assert {r["coder"] for r in consensus} == {CONSENSUS_USER}
    assert (where, split["code"]) in {(r["unit"].rsplit(":", 1)[1], r["code"])
                                      for r in consensus}
    assert all(r["reviewer"] == owner.name for r in consensus if r["code"])
    # by default: the model (everything it suggested, each with its status) and every coder
    default = rows_of(owner, pid)
    assert {r["coder"] for r in default} == {MODEL_USER, ana.name, ben.name}
    model = [r for r in default if r["coder"] == MODEL_USER]
    assert {r["status"] for r in model} >= {"pending", "accepted"}
    body = assert_problem(owner.get(f"/v1/projects/{pid}/export.csv",
                                    params={"coder": "nobody at all"}), 422)
    assert "nobody at all" in body["detail"]


def qdpx_selections(content: bytes) -> tuple[dict[str, str], list[dict]]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        root = ET.fromstring(zf.read("project.qde"))
    users = {u.get("guid"): u.get("name") for u in root.iter(f"{NS}User")}
    codes = {c.get("guid"): c.get("name") for c in root.iter(f"{NS}Code")}
    out = []
    for sel in root.iter(f"{NS}PlainTextSelection"):
        desc = sel.find(f"{NS}Description")
        out.append({"user": users[sel.get("creatingUser")], "start": int(sel.get("startPosition")),
                    "created": sel.get("creationDateTime"),
                    "description": desc.text if desc is not None else "",
                    "codes": {codes[c.find(f"{NS}CodeRef").get("targetGUID")]
                              for c in sel.iter(f"{NS}Coding")}})
    return users, out


def test_qdpx_export_holds_what_was_accepted(two, owner, tmp_path):
    from corpus.refi import read_qdpx

    pid, ana, ben = two["pid"], two["ana"], two["ben"]
    split = two["split"]
    res = owner.get(f"/v1/projects/{pid}/export.qdpx")
    assert res.status_code == 200, res.text
    path = tmp_path / "all.qdpx"
    path.write_bytes(res.content)
    assert read_qdpx(path).sources  # it reads back
    users, selections = qdpx_selections(res.content)
    assert {MODEL_USER, ana.name, CONSENSUS_USER} <= set(users.values())
    label = split["label"]
    start = split["segment"]["start"]
    anas = [s for s in selections if s["user"] == ana.name and s["start"] == start]
    assert anas and label in anas[0]["codes"]
    assert f"accepted by {ana.name} on " in anas[0]["description"]
    assert "not yet reviewed" not in anas[0]["description"]
    assert not any(label in s["codes"] for s in selections
                   if s["user"] == ben.name and s["start"] == start)  # ben rejected it
    assert all(recent(s["created"]) for s in selections)  # real dates, not 2020-01-01
    # the model's rejected suggestions are no codings; pending ones say so
    rejected = [s for s in items(owner, pid, parents="true", origin="model")
                if s["project_status"] == "rejected"]
    model = [s for s in selections if s["user"] == MODEL_USER]
    for s in rejected:
        assert not any(s["label"] in m["codes"] and m["start"] == s["segment"]["start"]
                       for m in model)
    only_ana = owner.get(f"/v1/projects/{pid}/export.qdpx", params={"coder": ana.name})
    users, selections = qdpx_selections(only_ana.content)
    assert {s["user"] for s in selections} == {ana.name}
    settled = owner.get(f"/v1/projects/{pid}/export.qdpx", params={"consensus": "true"})
    users, selections = qdpx_selections(settled.content)
    assert {s["user"] for s in selections} == {CONSENSUS_USER}
    assert any(label in s["codes"] and s["start"] == start for s in selections)


@pytest.mark.reference_data
def test_qdpx_export_validates_against_the_refi_schema(two, owner, reference_data):
    import xmlschema

    schema = xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd"))
    for params in ({}, {"coder": two["ana"].name}, {"consensus": "true", "model": "true"}):
        res = owner.get(f"/v1/projects/{two['pid']}/export.qdpx", params=params)
        with zipfile.ZipFile(io.BytesIO(res.content)) as zf:
            schema.validate(zf.read("project.qde").decode("utf-8"))


def test_pairwise_agreement_matches_precode_agree(two, owner, tmp_path):
    from typer.testing import CliRunner

    from service.cli import app as cli

    pid, ana, ben = two["pid"], two["ana"], two["ben"]
    res = two["viewer"].get(f"/v1/projects/{pid}/agreement/pairs")
    assert res.status_code == 200, res.text
    report = res.json()
    pairs = {(p["a"], p["b"]): p for p in report["pairs"]}
    assert {(MODEL_USER, ana.name), (MODEL_USER, ben.name), (ana.name, ben.name)} <= set(pairs)
    assert pairs[(ana.name, ben.name)]["kind"] == "coders"
    rows = rows_of(owner, pid)
    for a, b in ((MODEL_USER, ana.name), (ana.name, ben.name)):
        path = tmp_path / f"{len(a)}-{len(b)}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r["coder"] in (a, b))
        out = CliRunner().invoke(cli, ["agree", str(path), "--codebook", "npt,integrating",
                                       "--bootstrap", "0", "--format", "json"])
        assert out.exit_code == 0, out.output
        cli_report = json.loads(out.stdout)
        pair = pairs[(a, b)]
        assert pair["overall"] == cli_report["overall"]
        assert pair["per_code"] == cli_report["per_code"]
        assert pair["n_units_compared"] == cli_report["n_units_compared"]


@pytest.fixture(scope="module")
def blind(app, owner):
    pid = new_project(owner, codebook="npt,integrating")
    assert owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).status_code == 201
    precode(owner, pid)
    res = owner.patch(f"/v1/projects/{pid}", json={"blind": True})
    assert res.status_code == 200 and res.json()["blind"] is True, res.text
    return {"pid": pid, "cal": member(owner, pid, app, "cal")}


def test_blind_coding_hides_suggestions_until_the_coder_coded_the_segment(blind, owner):
    pid, cal = blind["pid"], blind["cal"]
    every = items(owner, pid, blind="false")  # an owner may look past it
    assert every
    assert items(cal, pid) == []  # nothing shows before cal coded a segment
    assert_problem(cal.get(f"/v1/projects/{pid}/suggestions", params={"blind": "false"}), 403)
    assert cal.get(f"/v1/projects/{pid}").json()["blind"] is True
    target = every[0]
    segment = target["segment"]["id"]
    url = f"/v1/projects/{pid}/segments/{segment}/blind"
    before = cal.get(url).json()
    assert (before["blind"], before["coded"], before["suggestions"]) == (True, False, [])
    assert cal.post(f"/v1/projects/{pid}/suggestions/bulk-accept",
                    json={"dry_run": True}).json()["accepted"] == 0
    assert_problem(cal.get(f"/v1/projects/{pid}/suggestions/{target['id']}"), 403)
    res = cal.post(url, json={"codes": [target["code"]]})
    assert res.status_code == 200, res.text
    after = res.json()
    assert after["coded"] is True and after["my_codes"] == [target["code"]]
    shown = {s["id"]: s for s in after["suggestions"]}
    assert cal.get(f"/v1/projects/{pid}/suggestions/{target['id']}").status_code == 200
    # the model suggested the code cal gave: cal's own decision, measured, not anchored
    assert shown[target["id"]]["status"] == "accepted"
    assert {s["segment"]["id"] for s in items(cal, pid)} == {segment}
    # coding another segment through /codings reveals that one too
    other = next(s for s in every if s["segment"]["id"] != segment)
    added = cal.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": other["segment"]["id"], "code": "integrating.negotiating"})
    assert added.status_code == 201, added.text
    assert {s["segment"]["id"] for s in items(cal, pid)} == {segment, other["segment"]["id"]}
    # no code applies: the segment is coded all the same
    third = next((s for s in every if s["segment"]["id"] not in (segment,
                                                                 other["segment"]["id"])), None)
    if third is not None:
        done = cal.post(f"/v1/projects/{pid}/segments/{third['segment']['id']}/blind",
                        json={"codes": []}).json()
        assert done["coded"] is True and done["my_codes"] == [] and done["suggestions"]


def test_a_coder_can_ask_for_blind_in_an_open_project(two):
    pid = two["pid"]
    fresh = two["viewer"]  # has coded nothing
    assert items(fresh, pid)
    assert items(fresh, pid, blind="true") == []
