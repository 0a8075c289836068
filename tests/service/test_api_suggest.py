"""The stateless suggestion endpoint, on the real app with a tiny real model."""

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client(tiny_suggester, tmp_path_factory):
    from service.services.users import create_user

    settings = Settings(home=tmp_path_factory.mktemp("home"), max_segments=4,
                        max_text_chars=500)
    app = create_app(settings, suggester=tiny_suggester)
    with TestClient(app) as c:
        with app.state.sessions() as session:
            _, token = create_user(session=session, name="suggester")
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def test_suggest_needs_a_token(client):
    res = client.post("/v1/suggest", json={"segments": [{"id": "a", "text": "x"}]},
                      headers={"Authorization": ""})
    assert res.status_code == 401
    assert res.headers["content-type"] == "application/problem+json"


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


def test_suggest_matches_the_library(client, tiny_suggester):
    text = "I said we'd take their Saturday clinic if they gave us the room on Mondays."
    body = {"segments": [{"id": "a", "text": text}, {"id": "b", "text": "How long have you "
                                                                      "worked here?"}],
            "min_confidence": 0.0, "top_k": 3}
    res = client.post("/v1/suggest", json=body)
    assert res.status_code == 200
    got = res.json()["segments"]
    assert [s["id"] for s in got] == ["a", "b"]
    [expected] = tiny_suggester.suggest([text], min_confidence=0.0, top_k=3)
    assert got[0]["suggestions"] == [s.to_dict() for s in expected.suggestions]
    for s in got[0]["suggestions"]:
        assert {"code", "label", "confidence", "evidence"} <= set(s)
    # learnt from its own kind of codings: nothing to caution about
    assert res.json()["caution"] is None


def test_a_built_in_kind_of_model_cautions_in_every_answer(seed_sourced_model, tmp_path):
    """A model learnt from the seed corpus, never calibrated on a researcher's codings, says in
    each answer, the server's and a project's, that its confidences do not hold on real speech."""
    from models.suggester import Suggester
    from service.services.users import create_user

    app = create_app(Settings(home=tmp_path / "home"),
                     suggester=Suggester.load(seed_sourced_model))
    body = {"segments": [{"id": "a", "text": "We agreed who would run the Monday clinic."}]}
    with TestClient(app) as c:
        with app.state.sessions() as session:
            _, token = create_user(session=session, name="ana")
        c.headers["Authorization"] = f"Bearer {token}"
        res = c.post("/v1/suggest", json=body)
        assert res.status_code == 200
        assert "no better than chance" in res.json()["caution"]
        pid = c.post("/v1/projects", json={"name": "Ward"}).json()["id"]
        res = c.post(f"/v1/projects/{pid}/suggest", json=body)
        assert res.status_code == 200
        assert "no better than chance" in res.json()["caution"]


@pytest.mark.parametrize("body,status", [
    ({"segments": []}, 422),
    ({"segments": [{"id": "a", "text": ""}]}, 422),
    ({"segments": [{"id": "a", "text": "x"}], "min_confidence": 3}, 422),
    ({"segments": [{"id": str(i), "text": "x"} for i in range(5)]}, 413),
    ({"segments": [{"id": "a", "text": "x" * 501}]}, 413),
    ({"segments": [{"id": "a", "text": "x", "context": "q" * 501}]}, 413),
    ({"segments": [{"id": "a", "text": "x", "context": ["a question"]}]}, 422),
])
def test_bad_requests_are_refused(client, body, status):
    res = client.post("/v1/suggest", json=body)
    assert res.status_code == status
    assert res.json()["detail"]
