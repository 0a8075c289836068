"""The outermost layer of the server, in front of every route (pure ASGI):

- too many requests in flight: 503 with ``Retry-After`` at once, never a queue without end;
- a path or query parameter with a NUL character is refused (422);
- a ``/v1/`` request's API token is checked before any of its body is read (401 otherwise);
- the body is counted as it streams in, declared length or not (chunked), and refused (413) as
  soon as it passes the limit;
- an error no handler answered becomes a plain 500 here, and is logged by its type and place
  only: never re-raised to the ASGI server, which would log its message (a database error's
  message may quote the statement's parameters, i.e. interview text);
- each client (API token, else address) may send ``rate_limit_per_minute`` requests a minute:
  more are answered 429 with ``Retry-After``; every ``/v1/`` answer has ``RateLimit-Limit``,
  ``RateLimit-Remaining`` and ``RateLimit-Reset``;
- every answer says ``X-Content-Type-Options: nosniff``;
- after a request during which the process grew (an upload unpacked, an export built), the
  memory freed since is given back to the system once no request is running.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import math
import os
import threading
import time
import traceback

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import problem_response

log = logging.getLogger("precode.service")

CHALLENGE = {"WWW-Authenticate": "Bearer"}
# requests that may carry a body: only these have their token checked before it is read (the
# routes check every other request's token themselves)
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# a request during which the resident memory grew by more than this has its freed memory given
# back to the system when it ends
RELEASE_AFTER_GROWTH = 16 * 2**20


class BodyTooLarge(Exception):
    """Raised inside ``receive`` once the body has passed the limit."""


class RateLimit:
    """A token bucket per client (its API token, else its address): ``per_minute`` requests a
    minute, as a burst or spread out. Kept by each server process."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds until one more is allowed)."""
        now = time.monotonic()
        rate = self.per_minute / 60
        tokens, when = self.buckets.get(key, (self.per_minute, now))
        tokens = min(self.per_minute, tokens + (now - when) * rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        if len(self.buckets) > 100_000:  # forget idle clients
            self.buckets.clear()
        self.buckets[key] = (tokens, now)
        return allowed, int(tokens), 0 if tokens >= 1 else math.ceil((1 - tokens) / rate)


class Guard:
    def __init__(self, app: ASGIApp, *, body_limit: int, max_in_flight: int,
                 retry_after: int, rate_per_minute: int = 0):
        self.app = app
        self.body_limit, self.max_in_flight, self.retry_after = (body_limit, max_in_flight,
                                                                 retry_after)
        self.in_flight = 0
        self.last_end = 0.0  # when the last request ended (time.monotonic)
        self.rate = RateLimit(rate_per_minute) if rate_per_minute > 0 else None

    def _busy(self) -> bool:
        """Requests running, or one ended a moment ago: not the time to give memory back."""
        return (self.in_flight > 0
                or time.monotonic() - self.last_end < _Releaser.QUIET_SECONDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.in_flight >= self.max_in_flight:
            await self._answer(request, send, 503, "the server is busy; try again shortly",
                               "busy", {"Retry-After": str(self.retry_after)})
            return
        limit_headers: list = []
        if self.rate is not None and scope["path"].startswith("/v1/"):
            allowed, remaining, wait = self.rate.take(_client_key(request))
            limit_headers = [(b"ratelimit-limit", str(self.rate.per_minute).encode()),
                             (b"ratelimit-remaining", str(remaining).encode()),
                             (b"ratelimit-reset", str(wait).encode())]
            if not allowed:
                await self._answer(request, send, 429, f"more than {self.rate.per_minute} "
                                                       "requests a minute; slow down",
                                   "rate-limited", {"Retry-After": str(max(wait, 1)),
                                                    **{k.decode(): v.decode()
                                                       for k, v in limit_headers}})
                return
        self.in_flight += 1
        try:
            await self._guarded(request, scope, receive, send, limit_headers)
        finally:
            self.in_flight -= 1
            self.last_end = time.monotonic()

    async def _guarded(self, request: Request, scope: Scope, receive: Receive,
                       send: Send, extra_headers: list) -> None:
        resident_before = resident_bytes()
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.body_limit:
            await self._too_large(request, send)
            return
        nul = _nul_in_url(request)
        if nul is not None:
            response = problem_response(request, 422, "1 invalid field(s) in the request",
                                        kind="validation", errors=[nul])
            await response(scope, _no_body, send)
            return
        if scope["path"].startswith("/v1/") and scope["method"] in BODY_METHODS:
            refused = await self._check_token(request, scope)
            if refused is not None:
                await self._answer(request, send, *refused)
                return
        received = 0
        state = {"started": False, "too_large": False}

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit:
                    state["too_large"] = True
                    raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            if state["too_large"]:  # whatever the app made of a cut-off body is not sent
                return
            if message["type"] == "http.response.start":
                state["started"] = True
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                    # a browser never second-guesses a type, e.g. of an upload served back
                    headers.append((b"x-content-type-options", b"nosniff"))
                headers.extend(extra_headers)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._run_app(request, scope, counted, tracked, send, state)
        finally:
            # what a request reads or unpacks is freed when it ends, but glibc keeps freed memory
            # in the heaps of the threads that used it (a .qdpx of a few hundred KB can unpack to
            # tens of MB of text), so the process would stay as large as its largest requests
            # together; the growth is measured, not the body, which says little of the work
            grown = (resident_bytes() or 0) - (resident_before or 0)
            if received > 2**20 or (resident_before is not None and grown > RELEASE_AFTER_GROWTH):
                _releaser.ask(self._busy)

    async def _run_app(self, request: Request, scope: Scope, receive: Receive, app_send: Send,
                       send: Send, state: dict) -> None:
        """The app, with what it sends through ``app_send``; answers of the guard's own go
        straight to ``send``."""
        try:
            await self.app(scope, receive, app_send)
        except Exception as exc:  # noqa: BLE001 - the last place an error can be answered
            if not state["too_large"]:
                log.error("unexpected %s on %s %s\n%s", type(exc).__name__, scope["method"],
                          scope["path"], "".join(traceback.format_tb(exc.__traceback__)))
            if state["started"]:
                return  # the answer is under way: the connection is closed by the server
            if not state["too_large"]:
                await self._answer(request, send, 500, "an unexpected error; the server log "
                                                       "has its type", None, None)
                return
        if state["too_large"] and not state["started"]:
            await self._too_large(request, send)

    async def _too_large(self, request: Request, send: Send) -> None:
        await self._answer(request, send, 413, f"the request body is larger than the limit of "
                                               f"{self.body_limit:,} bytes", "too-large", None)

    @staticmethod
    async def _answer(request: Request, send: Send, status: int, detail: str, kind: str | None,
                      headers: dict | None) -> None:
        response = problem_response(request, status, detail, kind=kind, headers=headers)
        await response(request.scope, _no_body, send)

    async def _check_token(self, request: Request, scope: Scope):
        """None when the request's token is valid (its row is kept for the routes), else the
        answer: (status, detail, kind, headers)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return (401, "an API token is needed: send the header 'Authorization: Bearer "
                         "<token>'", "unauthorized", CHALLENGE)
        from sqlalchemy.exc import OperationalError, TimeoutError

        from service.services.users import token_row

        sessions = getattr(scope["app"].state, "sessions", None)
        if sessions is None:  # still starting
            return 503, "the server is starting", "busy", {"Retry-After": str(self.retry_after)}

        def look_up():
            with sessions() as session:
                return token_row(session=session, token=token.strip())

        try:
            row = await run_in_threadpool(look_up)
        except (TimeoutError, OperationalError):
            return (503, "the database is busy; try again shortly", "busy",
                    {"Retry-After": str(self.retry_after)})
        if row is None:
            return 401, "unknown or revoked API token", "unauthorized", CHALLENGE
        scope.setdefault("state", {})["token"] = row
        return None


def release_memory() -> None:
    """Give the memory freed since back to the system: glibc keeps it in each thread's heap
    otherwise. ``malloc_trim`` goes through every thread's heap; where the C library has none
    (not glibc), nothing is done."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class _Releaser:
    """Gives memory back in a thread of its own, once for all the requests that asked in the
    meantime, and only when the server has been idle for ``QUIET_SECONDS``: going through heaps
    that hold hundreds of MB takes a good part of a second, and meanwhile every thread that
    allocates (the event loop's included) waits, so trimming under load would stall every
    request."""

    QUIET_SECONDS = 0.5

    def __init__(self):
        self._wanted = threading.Event()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = lambda: False

    def ask(self, busy) -> None:
        """``busy()``: whether requests are running or ended less than ``QUIET_SECONDS`` ago."""
        if _malloc_trim() is None:
            return
        self._busy = busy
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="precode-release-memory",
                                                daemon=True)
                self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            while self._busy():
                time.sleep(self.QUIET_SECONDS)
            self._wanted.clear()
            release_memory()


_releaser = _Releaser()


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """The process's resident memory now (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _client_key(request: Request) -> str:
    """Who is asking: the hash of their API token, else their address."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "t:" + hashlib.sha256(token.strip().encode()).hexdigest()
    return "a:" + (request.client.host if request.client else "")


def _nul_in_url(request: Request) -> dict | None:
    """The first path or query parameter holding a NUL character (which no database stores,
    and PostgreSQL refuses even to compare), as a validation error entry."""
    if "\x00" in request.url.path:
        return {"pointer": "#/", "in": "path", "detail": "the path holds a NUL character",
                "code": "nul_character"}
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            return {"pointer": f"#/{key.replace(chr(0), '')}", "in": "query",
                    "detail": "must not contain a NUL character (\\u0000)",
                    "code": "nul_character"}
    return None


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
