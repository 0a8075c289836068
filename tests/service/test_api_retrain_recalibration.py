"""Retraining a project maps the new model's confidences on the segments its coders reviewed:
when they rejected everything the model suggested, the next version stops suggesting instead of
repeating the same guesses at a confident-looking score. Without ``recalibrate`` it keeps
suggesting. On the real app with the tiny real model, SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import api_for, new_project, precode


@pytest.fixture(scope="module")
def texts(npt_integrating, tiny_suggester):
    """Authored excerpts of the codes the tiny model knows, so that it suggests on most."""
    from corpus.seed_corpus import load_seed

    known = set(tiny_suggester.classes_)
    return [e.text for e in load_seed(npt_integrating, parts=("v1",))
            if set(e.codes) & known][:80]


def _rejected_everything(owner, app, texts) -> tuple[int, int, int]:
    """A project whose coder rejected every model suggestion on 80 segments: (project id,
    document id, how many were rejected)."""
    pid = new_project(owner, codebook="npt,integrating")
    coder = api_for(app, "coder")
    owner.post(f"/v1/projects/{pid}/members", json={"user": coder.name, "role": "coder"})
    data = "".join(json.dumps({"id": f"s{i}", "text": t, "speaker": "P1"}) + "\n"
                   for i, t in enumerate(texts))
    doc = owner.upload(pid, "answers.jsonl", data.encode()).json()["documents"][0]["id"]
    precode(owner, pid, min_confidence=0.0, top_k=1)  # one guess on every segment
    items = coder.get(f"/v1/projects/{pid}/suggestions", params={"limit": 500}).json()["items"]
    for item in items:
        res = coder.post(f"/v1/projects/{pid}/suggestions/{item['id']}/review",
                         json={"action": "reject"})
        assert res.status_code == 200, res.text
    return pid, doc, len({item["segment"]["id"] for item in items})


def _retrain(owner, pid, **body) -> dict:
    res = owner.post(f"/v1/projects/{pid}/jobs", json={"kind": "retrain", **body})
    assert res.status_code == 202, res.text
    job = owner.wait_job(res.json()["id"], timeout=600)
    assert job["status"] == "succeeded", job
    return job


def test_rejected_guesses_are_not_repeated_after_retraining(app, owner, texts):
    pid, doc, rejected = _rejected_everything(owner, app, texts)
    assert rejected >= 20
    job = _retrain(owner, pid)
    recal = job["result"]["recalibration"]
    assert recal["n_segments"] >= 20
    assert recal["suggested_share_after"] == 0
    assert recal["ece_after"] < recal["ece_before"]
    versions = owner.get(f"/v1/projects/{pid}/models").json()
    assert versions[-1]["summary"]["recalibration"] == recal
    # the new version's confidences were measured on the project's own reviews
    assert versions[-1]["measured_on"].startswith(f"{recal['n_segments']} excerpts coded by a "
                                                  "researcher")
    assert versions[-1]["caution"] is None
    again = precode(owner, pid, redo=True, document_ids=[doc])
    assert again["result"]["suggestions"] == 0


def test_without_recalibration_the_refit_keeps_suggesting(app, owner, texts):
    pid, doc, _ = _rejected_everything(owner, app, texts)
    job = _retrain(owner, pid, recalibrate=False)
    assert "recalibration" not in job["result"]
    again = precode(owner, pid, redo=True, document_ids=[doc])
    assert again["result"]["suggestions"] > 0
