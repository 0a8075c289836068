"""``precode serve``: the HTTP API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import friendly, resolve_model

app = typer.Typer()


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes. They share the database: "
                                                     "each keeps its projects' models level with "
                                                     "it, and jobs are claimed with leases. The "
                                                     "cores are shared out between them.")] = 1,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
):
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from service.db.session import open_database
    from service.settings import Settings

    if model is not None:
        os.environ["PRECODE_MODEL_DIR"] = str(model)
    resolve_model(model)  # train the built-in model here, with a progress bar, if needed
    engine, _ = open_database(Settings().sqlalchemy_url())  # migrate once, before any worker
    engine.dispose()
    if workers > 1:
        share_cores(workers)
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info")


def share_cores(workers: int) -> None:
    """Several server processes: share the cores out between them (unless the environment
    says otherwise) and let /metrics add up every process's counts."""
    import shutil

    from service.services.jobs import process_exists
    from service.settings import Settings

    cores = os.cpu_count() or 1
    os.environ.setdefault("PRECODE_TORCH_THREADS", str(max(1, cores // workers)))
    os.environ.setdefault("PRECODE_INFERENCE_CONCURRENCY", str(max(1, cores // (2 * workers))))
    run = Settings().home / "run"
    for old in run.glob("metrics-*"):  # left by servers that have stopped
        pid = old.name.removeprefix("metrics-")
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = run / f"metrics-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
