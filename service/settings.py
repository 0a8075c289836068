"""Settings from ``PRECODE_*`` environment variables: the one place the command line and the server
resolve them (the home folder, model, database, threads, limits). Offline mode for the model-hub
libraries is set where the encoder is loaded (``models/encoder.py``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRECODE_", extra="ignore")

    home: Path = Path.home() / ".cache" / "precode"
    model_dir: Path | None = None
    # the machine's cache of what is built once for every home (the built-in model), default
    # $XDG_CACHE_HOME/precode, else ~/.cache/precode
    cache_dir: Path | None = None
    # changes to the built-in model's training arguments (JSON, e.g. '{"epochs": 0}'), for quick
    # trials and tests; the cache keeps such a model apart from the real one
    builtin_args: dict = {}
    database_url: str | None = None  # default: SQLite at HOME/precode.db
    inference_concurrency: int = _default_workers()
    # micro-batching: how long (ms) a suggestion request waits for concurrent ones for the same
    # model to be suggested with it in one pass (each still gets exactly its own results);
    # 0: each request runs alone
    batch_wait_ms: float = 2.0
    torch_threads: int | None = None  # default: PyTorch's own choice (all cores)
    # the encoder: auto (the model's int8 ONNX export on CPU, PyTorch on a GPU), onnx or torch;
    # read where a model is loaded (models.encoder.BACKEND_ENV), with as many threads as PyTorch
    encoder_backend: Literal["auto", "onnx", "torch"] = "auto"
    job_workers: int = 1
    job_poll_seconds: float = 1.0
    # a running job's claim lasts this long unless its process renews it (every third of it);
    # a job whose process died is taken over once its claim has run out
    job_lease_seconds: float = 60.0
    # requests: threads that run them (each holds at most one database connection at a time;
    # the pool has a connection for each, and for the job workers), how many may be in flight
    # before more are answered 503, how long one waits for a connection before its 503, and the
    # Retry-After of a 503. With PostgreSQL, server processes x pool_size() must stay under its
    # max_connections (100 by default: 4 processes of 21)
    request_threads: int = 16
    max_in_flight: int = 200
    db_wait_seconds: float = 10.0
    retry_after_seconds: int = 2
    # requests a minute per API token (per address without one); 0: no limit
    rate_limit_per_minute: int = 1200
    # bytes one user may upload in 24 hours (all projects together); 0: no limit
    upload_quota_bytes: int = 2 * 2**30
    # the agreement report: computed in a separate process, with this time limit, when
    # units x (bootstrap + 1) pass agreement_inline_work; a request waits this long for it
    # before its 202
    agreement_inline_work: int = 2_000_000
    agreement_time_limit_seconds: float = 120.0
    agreement_wait_seconds: float = 20.0
    # limits of one /v1/suggest request
    max_segments: int = 256
    max_text_chars: int = 20_000
    # limits of one upload
    max_upload_bytes: int = 20 * 2**20
    max_archive_bytes: int = 64 * 2**20  # a .qdpx or .docx once unpacked (counted as it is)
    max_docx_xml_bytes: int = 32 * 2**20  # the XML parts of a .docx once unpacked
    max_document_chars: int = 2_000_000
    max_document_segments: int = 5_000
    max_upload_documents: int = 200  # documents in one upload (the sources of a .qdpx)
    max_upload_segments: int = 20_000  # segments in one upload, all its documents together
    segment_unit: str = "turn"

    def apply_torch_threads(self) -> None:
        """Limit PyTorch to ``torch_threads`` when it is set."""
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)

    def model_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        xdg = os.environ.get("XDG_CACHE_HOME")
        return (Path(xdg) if xdg else Path.home() / ".cache") / "precode"

    def builtin_training_args(self):
        """The built-in model's training arguments, with ``builtin_args`` applied."""
        from dataclasses import replace

        from corpus.errors import PrecodeInputError
        from training.builtin import BUILTIN_ARGS

        try:
            return replace(BUILTIN_ARGS, **self.builtin_args)
        except (TypeError, ValueError) as exc:
            raise PrecodeInputError(str(exc), field="PRECODE_BUILTIN_ARGS") from None

    def pool_size(self) -> int:
        """Database connections per server process: one per request thread, two per job worker
        (the job and its lease), and a few for the process itself (migrations, readiness)."""
        return self.request_threads + 2 * self.job_workers + 3

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'precode.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
