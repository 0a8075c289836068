"""Errors as RFC 9457 problem details (``application/problem+json``).

Every 4xx/5xx answer has ``type``, ``title``, ``status``, ``detail`` and ``instance``; validation
problems add ``errors``: one entry per bad field, with a JSON ``pointer`` into the request.
"""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from corpus.errors import PrecodeInputError

log = logging.getLogger("precode.service")

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:precode:problem:"


class Problem(Exception):
    """An error with a problem type of its own, e.g. ``Problem(409, "conflict", "...")``."""

    def __init__(self, status: int, kind: str, detail: str, *, errors: list[dict] | None = None,
                 headers: dict | None = None):
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail
        self.errors, self.headers = errors, headers


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", f"{what} not found")


def problem_response(request: Request, status: int, detail: str, *, kind: str | None = None,
                     errors: list[dict] | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"type": TYPE_BASE + kind if kind else "about:blank",
            "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": request.url.path}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _pointer(loc) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path", "header"
                                                            ) else [str(p) for p in loc]
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def input_error_status(exc: PrecodeInputError) -> int:
    """A file that cannot be read is a bad request (400); a readable request naming something
    that cannot be used (an unknown code, a bad field) is unprocessable (422)."""
    return 400 if exc.source and not exc.field else 422


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return problem_response(request, exc.status_code, str(exc.detail),
                            headers=getattr(exc, "headers", None))


def _field_error(error: dict) -> dict:
    loc = tuple(error.get("loc", ()))
    return {"pointer": _pointer(loc), "in": str(loc[0]) if loc else "",
            "detail": error.get("msg", ""), "code": error.get("type", "")}


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_field_error(e) for e in exc.errors()]
    return problem_response(request, 422, f"{len(errors)} invalid field(s) in the request",
                            kind="validation", errors=errors)


async def _problem(request: Request, exc: Problem) -> JSONResponse:
    return problem_response(request, exc.status, exc.detail, kind=exc.kind, errors=exc.errors,
                            headers=exc.headers)


async def _input(request: Request, exc: PrecodeInputError) -> JSONResponse:
    where = {k: v for k, v in (("source", exc.source), ("line", exc.line), ("field", exc.field))
             if v is not None}
    return problem_response(request, input_error_status(exc), str(exc), kind="invalid-input",
                            errors=[{**where, "detail": exc.reason}])


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # the type and where, never the message: it may quote interview text
    log.error("unexpected %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path,
              "".join(traceback.format_tb(exc.__traceback__)))
    return problem_response(request, 500, "an unexpected error; the server log has its type")


def _retry_after(request: Request) -> dict:
    settings = getattr(request.app.state, "settings", None)
    return {"Retry-After": str(getattr(settings, "retry_after_seconds", 2))}


async def _database(request: Request, exc: Exception) -> JSONResponse:
    """A database error, by its kind (never its message: it may quote the statement's values).
    Input is checked before it reaches the database (lengths, NUL characters), so what is left
    is a busy or unreachable database (503, try again), a conflict with a concurrent change (409), or a value
    the database refused (422)."""
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError, TimeoutError

    where = f"{request.method} {request.url.path}"
    if isinstance(exc, TimeoutError | OperationalError):  # a full pool, a lock, an outage
        log.warning("database busy on %s (%s)", where, type(exc).__name__)
        return problem_response(request, 503, "the database is busy; try again shortly",
                                kind="busy", headers=_retry_after(request))
    if isinstance(exc, IntegrityError):
        log.info("database conflict on %s", where)
        return problem_response(request, 409, "the request conflicts with a change made at the "
                                              "same time; read the current state and try again",
                                kind="conflict")
    if isinstance(exc, DataError):
        log.info("database refused a value on %s", where)
        return problem_response(request, 422, "a value in the request cannot be stored (too "
                                              "long, out of range or with a NUL character)",
                                kind="invalid-input")
    return await _unexpected(request, exc)


def install(app: FastAPI) -> None:
    from sqlalchemy.exc import DBAPIError, TimeoutError

    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(TimeoutError, _database)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(PrecodeInputError, _input)
    app.add_exception_handler(Exception, _unexpected)
