"""Settings from ``PRECODE_*`` environment variables: the one place the command line and the server
resolve them (the home folder, model, database, threads, limits). Offline mode for the model-hub
libraries is set where the encoder is loaded (``models/encoder.py``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRECODE_", extra="ignore")

    home: Path = Path.home() / ".cache" / "precode"
    model_dir: Path | None = None
    database_url: str | None = None  # default: SQLite at HOME/precode.db
    inference_concurrency: int = _default_workers()
    torch_threads: int | None = None  # default: PyTorch's own choice (all cores)
    job_workers: int = 1
    job_poll_seconds: float = 1.0
    # a running job's claim lasts this long unless its process renews it (every third of it);
    # a job whose process died is taken over once its claim has run out
    job_lease_seconds: float = 60.0
    # limits of one /v1/suggest request
    max_segments: int = 256
    max_text_chars: int = 20_000
    # limits of one upload
    max_upload_bytes: int = 20 * 2**20
    max_archive_bytes: int = 200 * 2**20  # a .qdpx once unpacked
    max_document_chars: int = 2_000_000
    max_document_segments: int = 5_000
    segment_unit: str = "turn"

    def apply_torch_threads(self) -> None:
        """Limit PyTorch to ``torch_threads`` when it is set."""
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'precode.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
