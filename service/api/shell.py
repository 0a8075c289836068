"""What ``precode serve`` runs: a thin ASGI app that answers at once while the full app is
imported and its database opened, in the background, and then hands every request to it.

Importing FastAPI, SQLAlchemy and every route, and opening the database (the migration check,
or the migrations a new version brings), take a second or more; an ASGI server binds its port
only once its app is imported and its start-up is done. So the server runs this shell, which
imports nothing heavy: it starts at once, and meanwhile

- ``GET /healthz`` answers ``{"status": "ok"}``: the process is up;
- ``GET /readyz`` answers 503 with what it waits for (``starting``, then ``opening the
  database``) and ``Retry-After``;
- every other request gets 503 ``not-ready`` (problem details) with ``Retry-After``.

Once the full app's own start-up (its ``lifespan``: the database opened and migrated, the model's
loading begun) is done, every request goes to it, as if the shell were not there. If that
start-up fails (a database that cannot be reached, a bad ``PRECODE_DATABASE_URL``, a migration
that fails), the log says why, ``/readyz`` answers 503 with ``failed``: the reason without paths
or credentials, and ``on_failure`` is called (``precode serve`` then stops, exit status 1).
Shutting down waits for a start-up under way to end, then shuts the full app down as usual.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("precode.startup")

STARTING = "starting"
OPENING = "opening the database"
DATABASE_FAILED = "the database cannot be opened"
START_FAILED = "the server failed to start"
PROBLEM_TYPE = "urn:precode:problem:"


class Shell:
    """``load`` (called in a thread of its own) returns the full ASGI app; its lifespan is run
    in the background once the server has started."""

    def __init__(self, load: Callable[[], Any], *, retry_after: int = 2,
                 on_failure: Callable[[], None] | None = None):
        self._load = load
        self.retry_after = retry_after
        self.on_failure = on_failure
        self.app: Any = None  # the full app, once its start-up is done
        self.status = STARTING
        self.failed: str | None = None  # why the start-up failed, fit to be shown
        self._starting: asyncio.Task | None = None
        self._lifespan: _Lifespan | None = None
        self._state: dict = {}  # the server's lifespan state, shared with the full app's

    async def __call__(self, scope, receive, send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "lifespan":
            self._state = scope.setdefault("state", {})
            await self._own_lifespan(receive, send)
        elif scope["type"] == "http":
            await self._answer(scope, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1013})  # try again later

    # ---- the server's lifespan -----------------------------------------------------------
    async def _own_lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._starting = asyncio.create_task(self._start())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._starting is not None:
                    await asyncio.shield(self._starting)  # a start under way ends first
                error = None
                if self._lifespan is not None:
                    error = await self._lifespan.shutdown()
                if error is None:
                    await send({"type": "lifespan.shutdown.complete"})
                else:
                    await send({"type": "lifespan.shutdown.failed", "message": error})
                return

    async def _start(self) -> None:
        try:
            app = await _in_thread(self._load)
            self.status = OPENING
            log.info("opening the database")
            lifespan = _Lifespan(app, self._state)
            await lifespan.startup()
            self._lifespan = lifespan
            self.app = app  # from now on every request goes to the full app
            log.info("the database is open")
        except Exception as exc:  # noqa: BLE001 - said in the log, /readyz, and by on_failure
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        database = _from_database(exc)
        self.status = DATABASE_FAILED if database else START_FAILED
        self.failed = _reason(exc, database)
        if database:  # the database's own words (no statement's parameters: see make_engine)
            log.error("%s: %s", self.status, str(exc).strip() or type(exc).__name__)
        else:
            log.error("%s: %s", self.status, self.failed, exc_info=exc)
        if self.on_failure is not None:
            self.on_failure()

    # ---- answers before the full app is there ------------------------------------------
    async def _answer(self, scope, send) -> None:
        path, method = scope["path"], scope["method"]
        waiting = self.failed is None
        later = [(b"retry-after", str(self.retry_after).encode())] if waiting else []
        if path == "/healthz" and method == "GET":
            await _send_json(send, 200, {"status": "ok"})
        elif path == "/readyz" and method == "GET":
            state = {"status": self.status}
            if self.failed is not None:
                state["failed"] = self.failed
            await _send_json(send, 503, state, later)
        else:
            if waiting:
                detail = (f"not ready yet: {self.status}; try again shortly (GET /readyz says "
                          f"how far along)")
            else:
                detail = f"not ready: {self.status} ({self.failed}); the server log says more"
            await _send_json(send, 503, {
                "type": PROBLEM_TYPE + "not-ready", "title": "Service Unavailable",
                "status": 503, "detail": detail, "instance": path},
                later, media_type="application/problem+json")


class _Lifespan:
    """Runs an ASGI app's lifespan (start-up now, shut-down later) as a server would."""

    def __init__(self, app, state: dict):
        self._app, self._state = app, state
        self._to_app: asyncio.Queue = asyncio.Queue()
        self._from_app: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None

    async def startup(self) -> None:
        """Done when the app's start-up is; raises what made it fail."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self._state}  # what it keeps there reaches its requests
        self._task = asyncio.create_task(self._app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        message = await self._next()
        if message["type"] != "lifespan.startup.complete":
            await self._task  # raises what made the start-up fail
            raise RuntimeError("the app's start-up failed")

    async def shutdown(self) -> str | None:
        """None once the app has shut down, else what went wrong."""
        await self._to_app.put({"type": "lifespan.shutdown"})
        message = await self._next()
        if message["type"] == "lifespan.shutdown.complete":
            return None
        return message.get("message") or "the app's shut-down failed"

    async def _next(self) -> dict:
        """The app's next message; a failure it raised without saying so counts as one."""
        getting = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({getting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getting.done():
            return getting.result()
        getting.cancel()
        exc = self._task.exception()
        if exc is not None:
            raise exc
        return {"type": "lifespan.failed", "message": "the app ended its lifespan"}


async def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a thread of its own (not the pool the requests use)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    def run() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting task
            result, error = None, exc
        loop.call_soon_threadsafe(_settle, done, result, error)

    threading.Thread(target=run, name="precode-app-import", daemon=True).start()
    return await done


def _settle(future: asyncio.Future, result, error) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


async def _send_json(send, status: int, body: dict, headers: list | None = None, *,
                     media_type: str = "application/json") -> None:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", media_type.encode()), (b"content-length", str(len(data)).encode()),
        (b"x-content-type-options", b"nosniff"), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


# ---- why the start-up failed, fit to be shown to anyone --------------------------------
_DATABASE_LIBRARIES = {"sqlalchemy", "alembic", "psycopg", "psycopg2", "sqlite3"}
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/][^\s'\"]+")
_ASSIGNED = re.compile(r"\b(password|passwd|pwd|user|host)\s*=\s*\S+", re.IGNORECASE)


def _from_database(exc: BaseException) -> bool:
    """Whether a database library raised it (a connection, the URL, a migration)."""
    return any(cls.__module__.split(".")[0] in _DATABASE_LIBRARIES
               for cls in type(exc).__mro__)


def _reason(exc: BaseException, database: bool) -> str:
    """The error's type and the first line of its message, without URLs, paths or
    credentials; for anything but a database library's error, its type only."""
    name = type(exc).__name__
    if not database:
        return name
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}=<hidden>", _PATH.sub("<path>", _URL.sub(
        "<url>", text)))
    text = re.sub(r"^\([\w.]+\)\s*", "", text)  # SQLAlchemy's "(module.Error)" prefix
    if name in ("ArgumentError", "NoSuchModuleError"):
        name = f"PRECODE_DATABASE_URL: {name}"
    return f"{name}: {text[:300]}" if text else name


def full_app(settings):
    """The full app (``service.api.app``), imported when this is called."""
    from service.api.app import create_app

    return create_app(settings)


def create_shell() -> Shell:
    """The app factory of each server process under ``precode serve --workers N`` (the database
    was opened, and migrated, once before they started)."""
    from functools import partial

    from service.settings import Settings

    settings = Settings()
    return Shell(partial(full_app, settings), retry_after=settings.retry_after_seconds)
