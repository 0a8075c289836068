from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Still loading, or the database is "
                                                       "unreachable"}})
def readyz(request: Request):
    """The model is loaded and the database answers: suggestions can be served. Until then,
    503 with what the server waits for and, when known, how far along it is (``progress``, 0 to
    1), e.g. ``{"status": "building the built-in model", "progress": 0.4}``."""
    if getattr(request.app.state, "suggester", None) is None:
        loader = getattr(request.app.state, "loader", None)
        state = loader.state() if loader is not None else {"status": "loading the model"}
        return JSONResponse(state, status_code=503, headers={
            "Retry-After": str(request.app.state.settings.retry_after_seconds)})
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    # the model's folder name, never its path on the server
    return {"status": "ready", "model": request.app.state.suggester.path.name}
