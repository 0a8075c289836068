"""What every command shares: the consoles, the bad-input handler, the model to use."""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

import models.encoder  # noqa: F401  (offline mode, set before any model-hub library loads)
from corpus.errors import PrecodeInputError

console = Console()
err_console = Console(stderr=True)


def friendly(fn):
    """Turn bad-input errors into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PrecodeInputError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def stage(msg: str) -> None:
    err_console.print(f"[bold]precode[/bold] {escape(msg)}", highlight=False)


def resolve_model(model: Path | None) -> Path:
    """The model directory to use: the one named, else ``PRECODE_MODEL_DIR``, else the built-in
    (from the machine's cache, trained there on first use). Applies the settings the server
    applies (``PRECODE_TORCH_THREADS``)."""
    from service.services.model_loading import builtin_ready, model_path
    from service.settings import Settings

    settings = Settings()
    settings.apply_torch_threads()
    if model is not None:
        return model
    if settings.model_dir is None and not builtin_ready(settings):
        stage("getting the built-in model ready (trained once per machine: a few minutes the "
              "first time)")
    return model_path(settings, progress=True, stage=stage, report=_waiting)


_said: set[str] = set()


def _waiting(status: str, progress: float | None) -> None:
    """Say once that another process is building the model this one waits for (a build of
    this process's own shows its progress bars)."""
    if status.startswith("waiting") and status not in _said:
        _said.add(status)
        stage(status)


def load_suggester(model: Path | None):
    from models.suggester import Suggester

    return Suggester.load(resolve_model(model))
