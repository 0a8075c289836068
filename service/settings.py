"""Service settings from ``PRECODE_*`` environment variables."""

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
    inference_concurrency: int = _default_workers()
    max_segments: int = 256
    max_text_chars: int = 20_000


@lru_cache
def get_settings() -> Settings:
    return Settings()
