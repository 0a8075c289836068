"""The FastAPI app factory. The model is loaded and the database migrated in ``lifespan``, never
at import time."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.settings import Settings, get_settings

MULTIPART_SLACK = 64 * 1024  # room for the multipart envelope around an upload

DESCRIPTION = """Code suggestions for qualitative interview transcripts, with calibrated
confidence and evidence. Runs locally.

Projects hold a codebook, a model, members, documents, suggestions and reviews. Upload
transcripts, pre-code them with a job, review the suggestions (most informative first), retrain
the model on the reviews, export the codings and read the agreement between reviewers and model.

Every route except `/healthz`, `/readyz` and `/metrics` needs an API token
(`Authorization: Bearer <token>`; `precode users create NAME --admin` prints the first one).
Errors are RFC 9457 problem details (`application/problem+json`)."""


def create_app(settings: Settings | None = None, *, suggester=None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from service.db.session import open_database
        from service.services.jobs import JobContext
        from service.services.project_models import ProjectModels
        from service.worker import JobWorker

        app.state.settings = settings
        settings.apply_torch_threads()
        app.state.inference_limit = asyncio.Semaphore(settings.inference_concurrency)
        engine, app.state.sessions = await run_in_threadpool(open_database,
                                                             settings.sqlalchemy_url())
        app.state.suggester = suggester or await run_in_threadpool(_load_model,
                                                                   settings)
        app.state.models = ProjectModels(app.state.sessions, app.state.suggester)
        worker = JobWorker(JobContext(app.state.sessions, settings, app.state.models),
                           threads=settings.job_workers, poll_seconds=settings.job_poll_seconds,
                           on_finish=lambda kind, status: metrics.jobs_finished.labels(
                               kind, status).inc())
        await run_in_threadpool(worker.start)
        app.state.worker = worker
        try:
            yield
        finally:
            await run_in_threadpool(worker.stop)
            engine.dispose()

    app = FastAPI(title="precode", version="0.1.0", lifespan=lifespan, description=DESCRIPTION)
    from service import metrics as metrics_module
    from service import problems
    from service.api.routes import (
        documents_routes,
        exports_routes,
        health_routes,
        jobs_routes,
        projects_routes,
        reviews_routes,
        suggest_routes,
        users_routes,
    )

    problems.install(app)
    _limit_body(app, settings.max_upload_bytes + MULTIPART_SLACK)
    metrics = metrics_module.install(app)
    from service.api.schemas import PROBLEM_RESPONSES

    app.include_router(health_routes.router)
    for module in (suggest_routes, users_routes, projects_routes, documents_routes, jobs_routes,
                   reviews_routes, exports_routes):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    _problem_media_type(app)
    return app


def _problem_media_type(app: FastAPI) -> None:
    """In the OpenAPI schema, errors are documented as what they are: problem details under
    ``application/problem+json`` only (FastAPI would also list ``application/json``)."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            for path in schema["paths"].values():
                for operation in path.values():
                    for status, answer in operation.get("responses", {}).items():
                        content = answer.get("content", {})
                        if status[0] in "45" and "application/problem+json" in content:
                            body = content.pop("application/json", None) or \
                                content["application/problem+json"]
                            answer["content"] = {"application/problem+json": body}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def _limit_body(app: FastAPI, limit: int) -> None:
    """Refuse a request whose declared body is over the upload limit before reading it (the
    upload routes also count what they read, for bodies sent without a length)."""
    from fastapi import Request

    from service.problems import problem_response

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return problem_response(request, 413, f"the request body is larger than the limit "
                                                  f"of {limit:,} bytes", kind="too-large")
        return await call_next(request)


def _load_model(settings: Settings):
    from models.suggester import Suggester
    from training.builtin import ensure_builtin_model

    return Suggester.load(settings.model_dir or ensure_builtin_model(settings.home, progress=False))
