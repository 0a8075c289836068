"""Micro-batching of suggestion requests: requests that arrive together are suggested in one pass,
and each gets exactly the results it would get alone; an error in one fails no other; 0 turns it
off; the batch threads end when the server stops. With the tiny real model."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from models.suggester import SuggestionRequest
from service.api.app import create_app
from service.problems import Problem
from service.services.micro_batching import SuggestBatcher
from tests.service.conftest import api_for, make_settings, new_project

THREAD = "precode-suggest-batch"
TEXTS = [
    "I said we'd take their Saturday clinic if they gave us the room on Mondays.",
    "We all sat down in the staff room and agreed what the new falls check was meant to achieve.",
    "Every quarter we pull the figures to see how many kits actually come back.",
    "How long have you worked here?",
    "Honestly I didn't see what the pharmacist was for at first.",
    "The data team runs a report on uptake so we know which surgeries use it.",
    "My daughter has just started at university in Glasgow.",
    "We bargained with finance for weeks and in the end they funded half.",
]


def requests_() -> list[SuggestionRequest]:
    """Requests of 1 to 3 texts with different options."""
    options = [(None, None), (0.0, 3), (0.2, None), (None, 1)]
    return [SuggestionRequest(tuple(TEXTS[i:i + 1 + i % 3]), *options[i % len(options)])
            for i in range(len(TEXTS))]


def alone(suggester, request: SuggestionRequest):
    return suggester.suggest(list(request.texts), min_confidence=request.min_confidence,
                             top_k=request.top_k)


class Held:
    """A first request that keeps the model's thread busy until released, so that the requests
    sent meanwhile queue up and form the next batch (whatever the machine's speed)."""

    def __init__(self, suggester):
        self.suggester = suggester
        self.started, self.release = threading.Event(), threading.Event()
        self.batches: list[int] = []  # requests per batch, as the model saw them

    def suggest_many(self, requests):
        self.batches.append(len(requests))
        return self.suggester.suggest_many(requests)

    def first(self, requests):
        self.started.set()
        assert self.release.wait(60)
        return self.suggest_many(requests)

    def hold(self, batcher: SuggestBatcher, key: str):
        """Send the first request and wait until the model's thread runs it."""
        future = batcher.submit(key, self.first, SuggestionRequest((TEXTS[0],)))
        assert self.started.wait(60)
        return future


def test_batched_requests_get_exactly_their_own_results(tiny_suggester):
    batcher = SuggestBatcher(wait_ms=5, max_segments=256)
    held = Held(tiny_suggester)
    try:
        blocker = held.hold(batcher, "model")
        futures = [batcher.submit("model", held.suggest_many, r) for r in requests_()]
        held.release.set()
        results = [f.result(60) for f in futures]
        blocker.result(60)
    finally:
        batcher.close()
    assert held.batches == [1, len(futures)]  # the queued requests ran as one batch
    for request, got in zip(requests_(), results, strict=True):
        assert got == alone(tiny_suggester, request)
    assert any(s.suggestions for got in results for s in got)  # something to compare


def test_a_batch_stays_within_max_segments(tiny_suggester):
    batcher = SuggestBatcher(wait_ms=5, max_segments=4)
    held = Held(tiny_suggester)
    try:
        blocker = held.hold(batcher, "model")
        futures = [batcher.submit("model", held.suggest_many, SuggestionRequest(tuple(TEXTS[:3])))
                   for _ in range(3)]
        held.release.set()
        results = [f.result(60) for f in futures]
        blocker.result(60)
    finally:
        batcher.close()
    assert held.batches == [1, 1, 1, 1]  # 3 + 3 segments would pass 4
    assert results == [alone(tiny_suggester, SuggestionRequest(tuple(TEXTS[:3])))] * 3


def test_an_error_in_one_request_fails_no_other(tiny_suggester):
    batcher = SuggestBatcher(wait_ms=5, max_segments=256)
    held = Held(tiny_suggester)
    good = requests_()[:3]
    try:
        blocker = held.hold(batcher, "model")
        futures = [batcher.submit("model", held.suggest_many, r) for r in
                   (good[0], SuggestionRequest((None,)), good[1], good[2])]
        held.release.set()
        blocker.result(60)
        with pytest.raises(TypeError):  # the encoder cannot read it
            futures[1].result(60)
        results = [futures[i].result(60) for i in (0, 2, 3)]
    finally:
        batcher.close()
    assert results == [alone(tiny_suggester, r) for r in good]


def test_close_ends_the_threads_and_refuses_new_requests(tiny_suggester):
    before = {t for t in threading.enumerate() if t.name == THREAD}
    batcher = SuggestBatcher(wait_ms=5, max_segments=256)
    for key, text in (("a", TEXTS[0]), ("b", TEXTS[1])):  # one thread per model
        batcher.submit(key, tiny_suggester.suggest_many, SuggestionRequest((text,))).result(60)
    mine = {t for t in threading.enumerate() if t.name == THREAD} - before
    assert len(mine) == 2
    batcher.close()
    assert not any(t.is_alive() for t in mine)
    with pytest.raises(Problem) as refused:
        batcher.submit("a", tiny_suggester.suggest_many, SuggestionRequest((TEXTS[0],)))
    assert refused.value.status == 503


# ---- through the API ------------------------------------------------------------------------------
def bodies() -> list[dict]:
    return [{"segments": [{"id": f"s{j}", "text": t} for j, t in enumerate(r.texts)],
             **({"min_confidence": r.min_confidence} if r.min_confidence is not None else {}),
             **({"top_k": r.top_k} if r.top_k is not None else {})} for r in requests_()]


@pytest.fixture(scope="module")
def apps(tiny_suggester, tmp_path_factory):
    """Two servers on the tiny model: one batching requests (a long wait, so that concurrent
    requests meet), one answering each alone (``PRECODE_BATCH_WAIT_MS=0``)."""
    out = {}
    for name, wait in (("batched", 100.0), ("alone", 0.0)):
        home = tmp_path_factory.mktemp(name)
        settings = make_settings(home, f"sqlite:///{home / 'precode.db'}", batch_wait_ms=wait,
                                 max_text_chars=500)
        out[name] = create_app(settings, suggester=tiny_suggester)
    with TestClient(out["batched"]) as a, TestClient(out["alone"]) as b:
        out["batched"].state.client, out["alone"].state.client = a, b
        yield out


def test_concurrent_requests_get_what_they_get_one_by_one(apps):
    batched, single = api_for(apps["batched"]), api_for(apps["alone"])
    pid = new_project(batched, codebook="npt,integrating")
    calls = [("/v1/suggest", body) for body in bodies()]
    calls += [(f"/v1/projects/{pid}/suggest", body) for body in bodies()[:4]]
    bad = {"segments": [{"id": "x", "text": "x" * 501}]}
    calls.append(("/v1/suggest", bad))
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda c: batched.post(c[0], json=c[1]), calls))
    assert answers[-1].status_code == 413  # a bad request stays a 4xx, the others are answered
    for (path, body), res in zip(calls[:-1], answers[:-1], strict=True):
        assert res.status_code == 200, res.text
        again = batched.post(path, json=body)  # alone in its batch
        assert res.json() == again.json()
        if path == "/v1/suggest":  # and as a server without micro-batching answers
            assert res.json() == single.post(path, json=body).json()
    assert any(s["suggestions"] for res in answers[:-1] for s in res.json()["segments"])


def test_without_micro_batching_no_batch_thread_starts(apps):
    single = api_for(apps["alone"])
    before = {t for t in threading.enumerate() if t.name == THREAD}
    assert not apps["alone"].state.batcher.enabled
    res = single.post("/v1/suggest", json=bodies()[0])
    assert res.status_code == 200
    assert {t for t in threading.enumerate() if t.name == THREAD} <= before


def test_stopping_the_server_ends_its_batch_threads(tiny_suggester, tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'precode.db'}", batch_wait_ms=2.0)
    app = create_app(settings, suggester=tiny_suggester)
    before = {t for t in threading.enumerate() if t.name == THREAD}
    with TestClient(app) as client:
        app.state.client = client
        api = api_for(app)
        assert api.post("/v1/suggest", json=bodies()[0]).status_code == 200
        mine = {t for t in threading.enumerate() if t.name == THREAD} - before
        assert mine
    assert not any(t.is_alive() for t in mine)
