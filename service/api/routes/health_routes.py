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
    """The model is loaded and the database answers: suggestions can be served."""
    if getattr(request.app.state, "suggester", None) is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    # the model's folder name, never its path on the server
    return {"status": "ready", "model": request.app.state.suggester.path.name}
