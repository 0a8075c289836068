"""Prometheus metrics: requests and latency per route, jobs by kind and state.

Each app has its own registry, so several apps (tests) never clash. Under `precode serve
--workers N` (``PROMETHEUS_MULTIPROC_DIR`` set), request and job counts are kept in files there and
a scrape adds up every process's.
"""

from __future__ import annotations

import os
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily


class JobCollector:
    """``precode_jobs{kind,status}``: the jobs in the database, counted at scrape time."""

    def __init__(self, app: FastAPI):
        self.app = app

    def collect(self):
        from service.services.jobs import count_jobs

        family = GaugeMetricFamily("precode_jobs", "Jobs by kind and status",
                                   labels=["kind", "status"])
        sessions = getattr(self.app.state, "sessions", None)
        if sessions is not None:
            with sessions() as session:
                for (kind, status), n in count_jobs(session=session).items():
                    family.add_metric([kind, status], n)
        yield family


class Metrics:
    def __init__(self, app: FastAPI):
        self.registry = CollectorRegistry()
        self.requests = Counter("precode_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("precode_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ["method", "route"],
                                 registry=self.registry)
        self.jobs_finished = Counter("precode_jobs_finished", "Jobs finished by this process",
                                     ["kind", "status"], registry=self.registry)
        self.registry.register(JobCollector(app))

    def observe(self, request: Request, status: int, seconds: float) -> None:
        route = getattr(request.scope.get("route"), "path", "unmatched")
        self.requests.labels(request.method, route, str(status)).inc()
        self.latency.labels(request.method, route).observe(seconds)


def _scrape_registry(metrics: Metrics, app: FastAPI) -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return metrics.registry
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(JobCollector(app))
    return registry


def install(app: FastAPI) -> Metrics:
    metrics = Metrics(app)
    app.state.metrics = metrics

    @app.middleware("http")
    async def measure(request: Request, call_next):
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            metrics.observe(request, status, time.perf_counter() - started)

    @app.get("/metrics", tags=["health"], include_in_schema=True,
             response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def prometheus_metrics() -> Response:
        """Prometheus metrics (text format): requests and latency per route, jobs."""
        return Response(generate_latest(_scrape_registry(metrics, app)),
                        media_type=CONTENT_TYPE_LATEST)

    return metrics
