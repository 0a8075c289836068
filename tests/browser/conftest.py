"""The review page in a real browser: the real app with the tiny real model, served by uvicorn on
a free port in a thread, and Debian's Chromium driven by Playwright (``pytest-playwright``).

Chromium is launched by its executable path (``/usr/bin/chromium``, or ``PRECODE_CHROMIUM``),
since Playwright's own browser downloads are not used. Where it is missing the tests are
skipped with that reason, or fail under ``PRECODE_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which
installs it)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from service.api.app import create_app
from service.services.users import create_user
from tests.browser.interview import interview_text
from tests.service.conftest import make_settings

CHROMIUM = os.environ.get("PRECODE_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "PRECODE_REQUIRE_BROWSER"
SCREENSHOTS_ENV = "PRECODE_SCREENSHOTS"  # a folder to keep the screenshots in (docs/screenshots)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).is_file():
        reason = (f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set "
                  f"PRECODE_CHROMIUM)")
        if os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so this is an error", pytrace=False)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800},
            "accept_downloads": True}


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get(SCREENSHOTS_ENV)
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app served over HTTP on 127.0.0.1, as ``precode serve`` serves it."""

    def __init__(self, app):
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


class Client:
    """The JSON API over HTTP, as one user."""

    def __init__(self, url: str, token: str, name: str):
        self.name, self.token = name, token
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=60)

    def __getattr__(self, method):
        return getattr(self.http, method)

    def ok(self, method: str, path: str, **kwargs):
        res = self.http.request(method.upper(), path, **kwargs)
        assert res.status_code < 300, res.text
        return res.json()

    def pending(self, project_id: int, **params) -> list[dict]:
        return self.ok("get", f"/v1/projects/{project_id}/suggestions",
                       params={"status": "pending", "limit": 500, **params})["items"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_suggester):
    home = tmp_path_factory.mktemp("home")
    settings = make_settings(home, f"sqlite:///{home / 'precode.db'}")
    with LiveServer(create_app(settings, suggester=tiny_suggester)) as live:
        yield live


def _user(server: LiveServer, name: str, admin: bool = False) -> Client:
    with server.app.state.sessions() as session:
        _, token = create_user(session=session, name=name, admin=admin)
    return Client(server.url, token, name)


@pytest.fixture(scope="module")
def project(server):
    """An owner (ana), a second coder (ben), and a project with one pre-coded interview:
    (ana, ben, project id)."""
    ana, ben = _user(server, "ana", admin=True), _user(server, "ben")
    project_id = ana.ok("post", "/v1/projects", json={"name": "Falls clinic interviews"})["id"]
    ana.ok("post", f"/v1/projects/{project_id}/members", json={"user": "ben", "role": "coder"})
    ana.ok("post", f"/v1/projects/{project_id}/documents",
           files={"file": ("clinic.txt", interview_text().encode(), "text/plain")})
    job = ana.ok("post", f"/v1/projects/{project_id}/jobs", json={"kind": "precode"})
    deadline = time.monotonic() + 120
    while job["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = ana.ok("get", f"/v1/jobs/{job['id']}")
    assert job["status"] == "succeeded", job
    yield ana, ben, project_id
    ana.http.close()
    ben.http.close()
