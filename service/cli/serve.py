"""``precode serve``: the HTTP API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from service.cli.common import err_console, friendly

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
    """Run the HTTP API (OpenAPI docs at /docs). It answers /healthz at once; the database is
    opened (and migrated) and then the model loaded (the built-in one built first, once per
    machine) in the background, and /readyz says how far along that is. A database that cannot
    be opened stops the server with the reason (exit status 1)."""
    from functools import partial

    import uvicorn

    from service.api.shell import Shell, full_app
    from service.settings import Settings

    if model is not None:
        os.environ["PRECODE_MODEL_DIR"] = str(model)
    settings = Settings()
    if settings.model_dir is not None:
        from models.suggester import read_manifest

        read_manifest(settings.model_dir)  # a bad model directory is refused here, not later
    settings.builtin_training_args()  # and bad PRECODE_BUILTIN_ARGS
    if workers > 1:  # migrate once, before any worker (one process migrates as it starts)
        from service.db.session import open_database

        engine, _ = open_database(settings.sqlalchemy_url())
        engine.dispose()
        share_cores(workers)
        uvicorn.run("service.api.shell:create_shell", factory=True, host=host, port=port,
                    workers=workers, log_level="info", log_config=log_config())
        return
    # the port is bound at once: the app is imported and its database opened behind the shell
    shell = Shell(partial(full_app, settings), retry_after=settings.retry_after_seconds)
    server = uvicorn.Server(uvicorn.Config(shell, host=host, port=port, log_level="info",
                                           log_config=log_config()))
    shell.on_failure = lambda: setattr(server, "should_exit", True)
    try:
        server.run()
    except KeyboardInterrupt:  # raised again by the server once it has stopped on Ctrl-C
        pass
    if shell.failed is not None:
        err_console.print(f"[red]error:[/red] {escape(shell.status)}: {escape(shell.failed)} "
                          "(the log above says more)", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def log_config() -> dict:
    """uvicorn's logging, and the lines that say what the server waits for before it is ready
    (building or loading the model) and when it is."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["precode.startup"] = {"handlers": ["default"], "level": "INFO",
                                            "propagate": False}
    return config


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
