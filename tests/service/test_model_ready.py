"""A model ready at first use: the server answers /healthz while its model is still being built,
/readyz says how far along it is, suggestions wait with 503 and Retry-After; a fresh home takes
the built-in model from the machine's cache; every command honours the server's settings."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import uvicorn
from typer.testing import CliRunner

from models.suggester import is_model_dir
from service.api.app import create_app
from service.cli import app as cli
from service.services.users import create_user
from tests.service.conftest import make_settings
from tests.training.test_model_cache import tiny_build
from training.builtin import builtin_cache, builtin_key
from training.model_cache import ModelCache

SEGMENT = {"segments": [{"id": "s1", "text": "We agreed in the team what the new check was for."}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float = 120.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_server_answers_at_once_while_the_builtin_model_is_built(tmp_path, tiny_excerpts,
                                                                 npt_integrating):
    """Another process (here a thread with its own lock) is building the built-in model when the
    server starts on a fresh home: the server is alive, not ready, says so with the build's
    progress, and turns ready by itself once the build is done."""
    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'precode.db'}",
                             cache_dir=tmp_path / "cache", request_threads=4,
                             retry_after_seconds=3)
    cache = builtin_cache(settings.model_cache_dir())
    cache.poll_seconds = 0.05
    gate, reached = threading.Event(), threading.Event()
    builder = threading.Thread(target=cache.ensure, args=(
        builtin_key(settings.builtin_training_args()),
        tiny_build(tiny_excerpts, npt_integrating, gate=gate, reached=reached)))
    builder.start()
    assert reached.wait(120)

    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    serving = threading.Thread(target=server.run)
    serving.start()
    try:
        wait_for(lambda: server.started, timeout=30)
        base = f"http://127.0.0.1:{server.config.port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"] == "3"
            state = wait_for(lambda: (http.get("/readyz").json()
                                      if "progress" in http.get("/readyz").json() else None))
            assert state["status"] == "waiting for another process building the built-in model"
            assert 0.3 < state["progress"] < 1
            assert str(tmp_path) not in ready.text  # no path of the server in what it says
            with app.state.sessions() as session:
                _, token = create_user(session=session, name="reader", admin=True)
            auth = {"Authorization": f"Bearer {token}"}
            early = http.post("/v1/suggest", json=SEGMENT, headers=auth)
            assert early.status_code == 503 and early.headers["retry-after"] == "3"
            assert early.headers["content-type"].startswith("application/problem+json")
            problem = early.json()
            assert problem["type"].endswith("not-ready")
            assert "waiting for another process building the built-in model" in problem["detail"]
            assert "/readyz" in problem["detail"]
            assert http.post("/v1/projects", json={"name": "early"}, headers=auth
                             ).status_code == 503

            gate.set()
            ready = wait_for(lambda: (lambda r: r if r.status_code == 200 else None)(
                http.get("/readyz")))
            assert ready.json()["status"] == "ready"
            answer = http.post("/v1/suggest", json={**SEGMENT, "min_confidence": 0}, headers=auth)
            assert answer.status_code == 200, answer.text
            assert answer.json()["segments"][0]["suggestions"]
        # the home got its own directory of the cached model; the cache built it once
        assert is_model_dir(settings.home / "models" /
                            f"builtin-{builtin_key(settings.builtin_training_args())}")
        assert len(cache.builds()) == 1
    finally:
        gate.set()
        server.should_exit = True
        serving.join(60)
        builder.join(120)


def test_a_bad_model_directory_is_said_by_readyz_without_its_path(tmp_path):
    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'precode.db'}",
                             model_dir=tmp_path / "no-model-here", request_threads=4)
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        state = wait_for(lambda: (lambda s: s if "failed" in s else None)(
            client.get("/readyz").json()), timeout=30)
        assert state["status"] == "the model cannot be loaded"
        assert state["failed"].startswith("PRECODE_MODEL_DIR: not a precode model directory")
        assert str(tmp_path) not in json.dumps(state)


def run_cli(*args, env):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    return result


def test_fresh_homes_use_the_cached_builtin_model_from_the_command_line(
        tmp_path, tiny_excerpts, npt_integrating):
    """The command line takes the built-in model from the machine's cache (PRECODE_CACHE_DIR),
    for every home, without training it again; PRECODE_BUILTIN_ARGS names another entry."""
    env = {"PRECODE_CACHE_DIR": str(tmp_path / "cache"), "PRECODE_MODEL_DIR": None,
           "PRECODE_BUILTIN_ARGS": json.dumps({"epochs": 0, "heldout_share": 0.3})}
    from service.settings import Settings

    args = Settings(builtin_args=json.loads(env["PRECODE_BUILTIN_ARGS"])).builtin_training_args()
    cache: ModelCache = builtin_cache(tmp_path / "cache")
    cache.ensure(builtin_key(args), tiny_build(tiny_excerpts, npt_integrating))  # the first build
    for home in ("home1", "home2"):
        result = run_cli("suggest", "--json", "--min-confidence", "0", "--top-k", "1",
                         "We agreed in the team what the new check was for.",
                         env={**env, "PRECODE_HOME": str(tmp_path / home)})
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)[0]["suggestions"]
        assert is_model_dir(tmp_path / home / "models" / f"builtin-{builtin_key(args)}")
    assert len(cache.builds()) == 1
    bad = run_cli("suggest", "Hello", env={**env, "PRECODE_HOME": str(tmp_path / "home3"),
                                           "PRECODE_BUILTIN_ARGS": '{"epochs": -1}'})
    assert bad.exit_code == 2 and "PRECODE_BUILTIN_ARGS" in bad.output and "epochs" in bad.output


def test_commands_apply_the_thread_setting(tiny_model):
    import torch

    before = torch.get_num_threads()
    try:
        want = 1 if before != 1 else 2
        result = run_cli("suggest", "--model", tiny_model, "Hello there.",
                         env={"PRECODE_TORCH_THREADS": str(want)})
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == want
    finally:
        torch.set_num_threads(before)
