"""Shared fixtures: a tiny real model trained once per test session (seconds, not minutes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def npt_integrating():
    from corpus.codebook import load_codebooks

    return load_codebooks("npt,integrating")


@pytest.fixture(scope="session")
def tiny_excerpts(npt_integrating):
    from corpus.excerpts import read_excerpts

    return read_excerpts(DATA / "tiny_coded.jsonl", npt_integrating)


TINY_ARGS = dict(epochs=1, pairs_per_excerpt=2, max_pairs=48, batch_size=8, heldout_share=0.3,
                 seed=0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_excerpts, npt_integrating) -> Path:
    """A real model directory: fine-tuned encoder, head, thresholds, FAISS index."""
    from training.args import TrainingArguments
    from training.train import train_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    return train_model(tiny_excerpts, npt_integrating, out, args=TrainingArguments(**TINY_ARGS),
                       progress=False)


@pytest.fixture(scope="session")
def tiny_suggester(tiny_model):
    from models.suggester import Suggester

    return Suggester.load(tiny_model)
