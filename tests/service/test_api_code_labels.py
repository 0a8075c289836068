"""A code is named by its id or by its label (case, spacing and Unicode form ignored) wherever
the API takes one: decisions, added codings, filters, bulk accepts. The id is what is stored; a
name that is neither gives a 422 naming the field."""

from __future__ import annotations

import unicodedata

import pytest

from tests.service.conftest import TRANSCRIPT, api_for, new_project
from tests.service.test_api_projects import assert_problem

BOOK = """id: team
label: Team work
codes:
  - id: team.purpose
    label: Shared purpose
  - id: team.deals
    label: Trading favours
  - id: team.folder
    label: Sárga mappa
"""


@pytest.fixture(scope="module")
def labelled(app, owner):
    """A project whose codes' labels are not their ids, with one transcript and a coder."""
    pid = new_project(owner, codebook="integrating")
    res = owner.put(f"/v1/projects/{pid}/codebook",
                    files={"file": ("team.yaml", BOOK.encode(), "application/yaml")})
    assert res.status_code == 200, res.text
    coder = api_for(app, "coder")
    owner.post(f"/v1/projects/{pid}/members", json={"user": coder.name, "role": "coder"})
    doc = owner.upload(pid, "falls.txt", TRANSCRIPT.encode()).json()["documents"][0]
    segments = owner.get(f"/v1/projects/{pid}/documents/{doc['id']}/segments").json()
    said = [s for s in segments if not s["is_interviewer"]]
    return {"pid": pid, "coder": coder, "segments": said}


def field_of(res) -> str:
    body = assert_problem(res, 422)
    return body["errors"][0]["field"]


def test_a_coding_named_by_its_label_stores_the_id(labelled, owner):
    pid, coder = labelled["pid"], labelled["coder"]
    res = coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][0]["id"], "code": "  shared   PURPOSE "})
    assert res.status_code == 201, res.text
    added = res.json()
    assert (added["code"], added["decided_code"], added["label"]) == (
        "team.purpose", "team.purpose", "Shared purpose")
    assert added["reviews"][0]["code"] == "team.purpose"
    # the same code by its id is the same coding: a second one is refused
    assert_problem(coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][0]["id"], "code": "team.purpose"}), 409)


def test_a_change_to_a_label_in_another_case_stores_the_id(labelled, owner):
    pid, coder = labelled["pid"], labelled["coder"]
    added = coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][1]["id"], "code": "team.purpose"}).json()
    res = coder.post(f"/v1/projects/{pid}/suggestions/{added['id']}/review",
                     json={"action": "change", "code": "TRADING FAVOURS"})
    assert res.status_code == 200, res.text
    changed = res.json()
    assert (changed["status"], changed["decided_code"]) == ("changed", "team.deals")
    assert [(r["action"], r["code"]) for r in changed["reviews"]] == [
        ("add", "team.purpose"), ("change", "team.deals")]
    trail = owner.get(f"/v1/projects/{pid}/reviews",
                      params={"suggestion_id": added["id"]}).json()["items"]
    assert [r["code"] for r in trail] == ["team.purpose", "team.deals"]


def test_a_label_in_another_unicode_form_is_the_same_code(labelled):
    pid, coder = labelled["pid"], labelled["coder"]
    decomposed = unicodedata.normalize("NFD", "sárga MAPPA")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    res = coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][2]["id"], "code": decomposed})
    assert res.status_code == 201, res.text
    assert res.json()["code"] == "team.folder"


def test_filters_take_a_label(labelled, owner):
    pid = labelled["pid"]
    url = f"/v1/projects/{pid}/suggestions"
    res = labelled["coder"].post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][0]["id"], "code": "team.folder"})
    assert res.status_code == 201, res.text
    by_id = owner.get(url, params={"code": "team.folder", "limit": 500}).json()["items"]
    by_label = owner.get(url, params={"code": "Sárga Mappa", "limit": 500}).json()["items"]
    assert by_id and [s["id"] for s in by_label] == [s["id"] for s in by_id]
    assert {s["code"] for s in by_label} == {"team.folder"}
    res = labelled["coder"].post(f"{url}/bulk-accept", json={"code": "shared purpose"})
    assert res.status_code == 200, res.text  # nothing of it pending: none accepted, no error
    assert res.json()["accepted"] == 0


def test_an_unknown_code_is_a_422_naming_the_field_and_changes_nothing(labelled, owner):
    pid, coder = labelled["pid"], labelled["coder"]
    url = f"/v1/projects/{pid}/suggestions"
    added = coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][3]["id"], "code": "Shared purpose"}).json()
    res = coder.post(f"{url}/{added['id']}/review",
                     json={"action": "change", "code": "Trading favors"})
    assert field_of(res) == "code"
    assert "Trading favors" in res.json()["detail"]
    after = coder.get(f"{url}/{added['id']}").json()  # the coder's own decision stands
    assert (after["status"], after["decided_code"], len(after["reviews"])) == (
        "accepted", "team.purpose", 1)
    assert field_of(coder.post(f"/v1/projects/{pid}/codings", json={
        "segment_id": labelled["segments"][3]["id"], "code": "Negotiating"})) == "code"
    assert field_of(owner.get(url, params={"code": "no such code"})) == "code"
    assert field_of(coder.post(f"{url}/bulk-accept", json={"code": "nothing like it"})) == "code"
