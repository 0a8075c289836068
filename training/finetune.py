"""Contrastive fine-tuning of the sentence encoder with sentence-transformers' own trainer."""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from collections.abc import Callable

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt
from training.args import TrainingArguments
from training.pairs import make_pairs

log = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fine_tune(model, excerpts: list[Excerpt], codebook: Codebook, args: TrainingArguments, *,
              progress: bool = True, on_step: Callable[[float], None] | None = None):
    """Fine-tune ``model`` in place on pairs drawn from ``excerpts``; returns the number of pairs.

    ``on_step`` is called after each optimizer step with the share of steps done (0 to 1); an
    exception it raises stops the training."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    set_seed(args.seed)
    a, b, score = make_pairs(excerpts, codebook, per_excerpt=args.pairs_per_excerpt,
                             seed=args.seed, hard_negative_share=args.hard_negative_share,
                             max_pairs=args.max_pairs)
    if not a or len(set(score)) < 2:
        log.warning("too few contrasting pairs to fine-tune; keeping the base encoder")
        return 0
    model.max_seq_length = args.max_seq_length
    dataset = Dataset.from_dict({"sentence1": a, "sentence2": b, "score": score})
    with tempfile.TemporaryDirectory(prefix="precode-train-") as out:
        targs = SentenceTransformerTrainingArguments(
            output_dir=out, num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate,
            warmup_steps=0.1, seed=args.seed, data_seed=args.seed, save_strategy="no",
            report_to="none", logging_strategy="no", disable_tqdm=not progress,
            dataloader_num_workers=0, use_cpu=str(model.device) == "cpu",
        )
        trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=dataset,
                                             loss=CosineSimilarityLoss(model),
                                             callbacks=[_step_callback(on_step)] if on_step else None)
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its final metrics
            trainer.train()
    return len(a)


def _step_callback(on_step: Callable[[float], None]):
    """A trainer callback reporting the share of optimizer steps done."""
    from transformers import TrainerCallback

    class StepReport(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.max_steps:
                on_step(min(1.0, state.global_step / state.max_steps))

    return StepReport()
