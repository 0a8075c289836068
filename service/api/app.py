"""The FastAPI app factory. The model is loaded in ``lifespan``, never at import time."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from service.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, suggester=None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.inference_limit = asyncio.Semaphore(settings.inference_concurrency)
        if suggester is not None:
            app.state.suggester = suggester
        else:
            from starlette.concurrency import run_in_threadpool

            app.state.suggester = await run_in_threadpool(_load_model, settings.model_dir)
        yield

    app = FastAPI(title="precode", version="0.1.0", lifespan=lifespan,
                  description="Code suggestions for qualitative interview transcripts, with "
                              "calibrated confidence and evidence. Runs locally.")
    from service.api.routes import health, suggest

    app.include_router(health.router)
    app.include_router(suggest.router)
    return app


def _load_model(model_dir: Path | None):
    from models.suggester import Suggester
    from training.builtin import ensure_builtin_model

    return Suggester.load(model_dir or ensure_builtin_model(progress=False))
