"""The FastAPI app factory. The model is loaded and the database migrated in ``lifespan``, never
at import time. ``precode serve`` imports this module and runs the lifespan in the background,
behind ``service.api.shell``, so nothing here delays the server's first answer; the lifespan runs
on the event loop and so leaves every slow step (imports included) to threads."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from functools import partial

from anyio import to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.db.session import open_database
from service.scratch import clean_scratch
from service.services.agreement_jobs import AgreementRunner
from service.services.jobs import JobContext
from service.services.micro_batching import SuggestBatcher
from service.services.model_loading import ModelLoader
from service.services.project_models import ProjectModels
from service.settings import Settings, get_settings
from service.worker import JobWorker

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
        app.state.settings = settings
        await run_in_threadpool(clean_scratch, settings.home)  # what a crash left behind
        await run_in_threadpool(settings.apply_torch_threads)  # imports PyTorch when set
        # the threads that run requests; the database pool has a connection for each
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        app.state.inference_limit = asyncio.Semaphore(settings.inference_concurrency)
        app.state.batcher = SuggestBatcher(wait_ms=settings.batch_wait_ms,
                                           max_segments=settings.max_segments,
                                           concurrency=settings.inference_concurrency)
        engine, app.state.sessions = await run_in_threadpool(
            partial(open_database, settings.sqlalchemy_url(), pool_size=settings.pool_size(),
                    pool_timeout=settings.db_wait_seconds))
        app.state.agreement = AgreementRunner(
            inline_work=settings.agreement_inline_work,
            time_limit=settings.agreement_time_limit_seconds)

        def ready(model) -> None:
            """The model is loaded: the projects' models and the job worker start from it."""
            app.state.models = ProjectModels(app.state.sessions, model)
            worker = JobWorker(JobContext(app.state.sessions, settings, app.state.models),
                               threads=settings.job_workers,
                               poll_seconds=settings.job_poll_seconds,
                               on_finish=lambda kind, status: metrics.jobs_finished.labels(
                                   kind, status).inc())
            worker.start()
            app.state.worker = worker
            app.state.suggester = model  # last: the server is ready

        # the model is loaded (the built-in one built first, if need be) in the background, so
        # that /healthz answers at once; /readyz says how far along it is
        app.state.suggester = app.state.models = app.state.worker = app.state.loader = None
        if suggester is not None:
            await run_in_threadpool(ready, suggester)
        else:
            app.state.loader = ModelLoader(settings, on_ready=ready).start()
        try:
            yield
        finally:
            app.state.agreement.close()
            await run_in_threadpool(app.state.batcher.close)
            if app.state.loader is not None:
                await run_in_threadpool(app.state.loader.stop)
            if app.state.worker is not None:
                await run_in_threadpool(app.state.worker.stop)
            engine.dispose()

    app = FastAPI(title="precode", version="0.1.0", lifespan=lifespan, description=DESCRIPTION,
                  docs_url=None, redoc_url=None)  # served offline by pages_routes
    from service import metrics as metrics_module
    from service import problems
    from service.api.routes import (
        documents_routes,
        exports_routes,
        health_routes,
        jobs_routes,
        pages_routes,
        projects_routes,
        reviews_routes,
        suggest_routes,
        users_routes,
    )

    problems.install(app)
    metrics = metrics_module.install(app)
    from service.api.schemas import PROBLEM_RESPONSES

    app.include_router(health_routes.router)
    for module in (suggest_routes, users_routes, projects_routes, documents_routes, jobs_routes,
                   reviews_routes, exports_routes):
        app.include_router(module.router, responses=PROBLEM_RESPONSES)
    pages_routes.install(app)  # the review page and the docs, every asset served locally
    _problem_media_type(app)
    from service.api.guard import Guard

    app.add_middleware(Guard, body_limit=settings.max_upload_bytes + MULTIPART_SLACK,
                       max_in_flight=settings.max_in_flight,
                       retry_after=settings.retry_after_seconds,
                       rate_per_minute=settings.rate_limit_per_minute)
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
