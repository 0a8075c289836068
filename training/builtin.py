"""The built-in model: trained from the seed corpus with the npt and integrating codebooks, on
first use or by ``precode train --builtin``, and cached under the home folder the caller passes
(the service's settings resolve it from ``PRECODE_HOME``)."""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path

from models.suggester import is_model_dir
from training.args import TrainingArguments

# Defaults chosen by `precode bench quality` (eval/results/quality.md).
BUILTIN_ARGS = TrainingArguments()


def builtin_key(args: TrainingArguments = BUILTIN_ARGS) -> str:
    from corpus.codebook import builtin_path
    from corpus.seed_corpus import SEED_CODEBOOKS, seed_hash
    from training.train import _version

    h = hashlib.sha256()
    h.update(seed_hash().encode())
    for name in SEED_CODEBOOKS.split(","):
        h.update(builtin_path(name).read_bytes())
    h.update(json.dumps(args.to_dict(), sort_keys=True).encode())
    h.update(str(_version("sentence-transformers")).encode())
    return h.hexdigest()[:12]


def builtin_model_dir(home: Path, args: TrainingArguments = BUILTIN_ARGS) -> Path:
    return Path(home) / "models" / f"builtin-{builtin_key(args)}"


def ensure_builtin_model(home: Path, *, progress: bool = True, stage=None, force: bool = False,
                         args: TrainingArguments = BUILTIN_ARGS) -> Path:
    """The built-in model's directory, training it first if it is not cached yet.

    A lock file keeps two processes from training it at the same time.
    """
    from corpus.seed_corpus import DEFAULT_PARTS, load_seed, seed_codebook
    from training.train import train_model

    target = builtin_model_dir(home, args)
    if is_model_dir(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".builtin.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_model_dir(target) and not force:
            return target
        codebook = seed_codebook()
        return train_model(load_seed(codebook), codebook, target, args=args, progress=progress,
                           stage=stage,
                           sources=[f"precode seed corpus ({' + '.join(DEFAULT_PARTS)})"])
