from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request):
    """The model is loaded and suggestions can be served."""
    if getattr(request.app.state, "suggester", None) is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    return {"status": "ready", "model": str(request.app.state.suggester.path)}
