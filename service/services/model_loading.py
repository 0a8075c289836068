"""The model the command line and the server use, and the server's loading of it in the
background: ``PRECODE_MODEL_DIR`` when set, else the built-in model (taken from the machine's
cache, which builds it once)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from corpus.errors import PrecodeInputError
from models.suggester import Suggester
from service.settings import Settings
from training.builtin import builtin_model_dir, ensure_builtin_model
from training.model_cache import BuildCancelled, Report

# what the server is waiting for, and when it is ready (``precode serve`` shows it)
log = logging.getLogger("precode.startup")


def model_path(settings: Settings, *, progress: bool = False,
               stage: Callable[[str], None] | None = None, report: Report | None = None,
               stop: Callable[[], bool] | None = None, force: bool = False) -> Path:
    """The model directory the settings name, or the built-in model's (built when needed)."""
    if settings.model_dir is not None and not force:
        return settings.model_dir
    return ensure_builtin_model(settings.home, cache=settings.model_cache_dir(),
                                args=settings.builtin_training_args(), progress=progress,
                                stage=stage, report=report, stop=stop, force=force)


def builtin_ready(settings: Settings) -> bool:
    """Whether the home already has the built-in model (nothing to build or copy)."""
    from models.suggester import is_model_dir

    return is_model_dir(builtin_model_dir(settings.home, settings.builtin_training_args()))


class ModelLoader:
    """Loads the server's model in a thread of its own, so that the server answers at once;
    says what it waits for and how far along it is (``state``), and hands the loaded model to
    ``on_ready`` (in its thread)."""

    def __init__(self, settings: Settings, on_ready: Callable[[Suggester], None]):
        self._settings = settings
        self._on_ready = on_ready
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._status, self._progress = "loading the model", None
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="precode-model-loader",
                                        daemon=True)

    def start(self) -> ModelLoader:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask a wait or a build to end (a build ends at its next step) and wait a little."""
        self._stop.set()
        self._thread.join(timeout)

    def state(self) -> dict:
        """What the loader is doing: a status line, the share done when known, and the error
        that stopped it, if one did (``failed``)."""
        with self._lock:
            out = {"status": self._status}
            if self._progress is not None:
                out["progress"] = self._progress
            if self._error is not None:
                out["failed"] = self._error
            return out

    def _report(self, status: str, progress: float | None) -> None:
        with self._lock:
            said = (self._status, None if self._progress is None else int(self._progress * 10))
            self._status, self._progress = status, progress
        if said != (status, None if progress is None else int(progress * 10)):
            log.info("%s%s", status, "" if progress is None else f" ({progress:.0%})")

    def _run(self) -> None:
        try:
            path = model_path(self._settings, report=self._report, stop=self._stop.is_set)
            self._report("loading the model", None)
            suggester = Suggester.load(path)
            if self._stop.is_set():
                return
            self._on_ready(suggester)
            with self._lock:
                self._status, self._progress = "ready", None
            log.info("ready: the model %s is loaded", path.name)
        except BuildCancelled:
            log.info("model loading stopped: the server is shutting down")
        except PrecodeInputError as exc:
            log.error("the model cannot be loaded: %s", exc)
            where = "PRECODE_MODEL_DIR" if self._settings.model_dir is not None else exc.field
            with self._lock:  # the reason, never a path on the server
                self._status = "the model cannot be loaded"
                self._error = f"{where}: {exc.reason}" if where else exc.reason
        except Exception as exc:  # noqa: BLE001 - the server stays up and says why it is not ready
            log.exception("loading the model failed")
            with self._lock:
                self._status, self._error = "loading the model failed", type(exc).__name__
