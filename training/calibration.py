"""Choosing what a model decides on held-out data: which codes it learns, which excerpts are held
out, the blend of head, exemplar vote and lexical head, the Platt mapping to confidence and one
threshold per code. Public so that training and the benchmarks decide in exactly the same way.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import numpy as np

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt
from models.head import MultiLabelHead
from models.index import Exemplar, ExemplarIndex
from models.lexical import LexicalHead
from models.metrics import report
from models.scoring import best_threshold, blend, fit_platt, neighbour_vote, platt, rollup
from training.args import TrainingArguments

__all__ = ["HeadExtra", "calibrate", "choose_classes", "cross_fitted_metrics", "heldout_scores",
           "rolled_truth", "shrunk_thresholds", "split_heldout"]


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
                   classes: list[str], excerpts: list[Excerpt], args: TrainingArguments,
                   extra: HeadExtra | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Head probabilities, neighbour votes and (with ``args.lexical``) lexical probabilities for
    the held-out excerpts, from the fit part only. ``extra`` (the codebook's own texts, see
    ``training.code_texts``) teaches the heads too, but is never an exemplar."""
    extra = extra or HeadExtra.empty(emb.shape[1], len(classes))
    head = MultiLabelHead(C=args.head_C, random_state=args.seed).fit(
        np.vstack([emb[fit], extra.emb]), np.vstack([y[fit], extra.y]), classes)
    index = ExemplarIndex(emb.shape[1])
    index.add(emb[fit], [Exemplar(text=excerpts[i].text, codes=excerpts[i].codes) for i in fit])
    sims, ids = index.search(emb[held], args.k_vote)
    lex = None
    if args.lexical:
        lexical = LexicalHead(C=args.head_C, random_state=args.seed).fit(
            [excerpts[i].text for i in fit] + extra.texts, np.vstack([y[fit], extra.y]), classes)
        lex = lexical.predict_proba([excerpts[i].text for i in held])
    return head.predict_proba(emb[held]), neighbour_vote(sims, ids, y[fit]), lex


@dataclass
class HeadExtra:
    """Examples the heads learn from beside the coded excerpts: embeddings, multi-hot codes and
    texts, one row each (a row repeated counts as that many examples)."""

    emb: np.ndarray
    y: np.ndarray
    texts: list[str]

    @classmethod
    def empty(cls, dim: int, n_classes: int) -> HeadExtra:
        return cls(np.zeros((0, dim), dtype=np.float32), np.zeros((0, n_classes)), [])

    @classmethod
    def repeated(cls, emb: np.ndarray, y: np.ndarray, texts: list[str], times: int) -> HeadExtra:
        return cls(np.repeat(emb, times, axis=0), np.repeat(y, times, axis=0),
                   [t for t in texts for _ in range(times)])


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
