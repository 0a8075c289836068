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
    (trained on first use). Also applies ``PRECODE_TORCH_THREADS``, as the server does."""
    from models.suggester import is_model_dir
    from service.settings import Settings
    from training.builtin import builtin_model_dir, ensure_builtin_model

    settings = Settings()
    settings.apply_torch_threads()
    model = model if model is not None else settings.model_dir
    if model is not None:
        return model
    if not is_model_dir(builtin_model_dir(settings.home)):
        stage("the built-in model is not trained yet; training it now from the seed corpus "
               "(a few minutes, once)")
    return ensure_builtin_model(settings.home, progress=True, stage=stage)


def load_suggester(model: Path | None):
    from models.suggester import Suggester

    return Suggester.load(resolve_model(model))
