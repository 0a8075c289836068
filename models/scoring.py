"""How a segment's confidence per code is computed; shared by training (calibration) and the
Suggester, so both use exactly the same arithmetic.

1. ``p``: the head's probability per code.
2. ``v``: the neighbours' vote, the similarity-weighted share of the ``k`` nearest exemplars that
   carry the code (negative similarities count as zero).
3. ``s = w * p + w_lex * l + (1 - w - w_lex) * v``, where ``l`` is the lexical (TF-IDF) head's
   probability, with both weights chosen on held-out data.
4. ``confidence = sigmoid(a * s + b)``: one Platt mapping fitted on held-out code decisions, so that a
   confidence of 0.7 means about 70% of such suggestions were right there.
5. Parent codes: ``1 - prod(1 - child confidence)`` over their children (noisy-OR), or their own
   confidence if that is higher, so a construct can pass while no single sub-code does.
6. Optionally, ``confidence' = sigmoid(a' * logit(confidence) + b')``: a second mapping fitted on a
   researcher's own coded excerpts (``precode calibrate``), so that confidences mean what they say
   on their speech, not only on the training data's held-out part.
"""

from __future__ import annotations

import numpy as np


def row_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` in float32, each row of ``a`` on its own: a row's products do not depend on
    the rows beside it. A BLAS matrix product rounds differently with the number of rows, so a
    text's confidences and evidence would change (in the last digits, now and then in the
    rounded ones) with the texts it is suggested together with."""
    return np.einsum("nd,md->nm", np.asarray(a, dtype=np.float32),
                     np.asarray(b, dtype=np.float32))


def neighbour_vote(sims: np.ndarray, ids: np.ndarray, exemplar_labels: np.ndarray,
                   exclude: np.ndarray | None = None) -> np.ndarray:
    """``exemplar_labels`` is the exemplars' multi-hot (n_exemplars, n_classes) matrix.

    ``exclude[i]`` is an exemplar position to leave out for query ``i`` (itself, in training).
    """
    n, k = ids.shape
    weights = np.clip(sims, 0.0, None).astype(np.float64)
    weights[ids < 0] = 0.0
    if exclude is not None:
        weights[ids == exclude[:, None]] = 0.0
    labels = exemplar_labels[np.clip(ids, 0, None)]  # (n, k, C)
    total = weights.sum(axis=1, keepdims=True)
    vote = np.einsum("nk,nkc->nc", weights, labels)
    return np.divide(vote, total, out=np.zeros_like(vote), where=total > 0)


def recalibrated(conf: np.ndarray, a: float, b: float) -> np.ndarray:
    """Step 6: a Platt mapping of the confidences' log-odds (monotone, so the order of codes
    within a segment is kept)."""
    c = np.clip(conf, 1e-6, 1.0 - 1e-6)
    return platt(np.log(c / (1.0 - c)), a, b)


def blend(p: np.ndarray, v: np.ndarray, w: float, lex: np.ndarray | None = None,
          w_lex: float = 0.0) -> np.ndarray:
    out = w * p + (1.0 - w - w_lex) * v
    return out + w_lex * lex if lex is not None and w_lex else out


def platt(s: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(a * s + b, -40, 40)))


def fit_platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One logistic mapping from blended score to the chance the code is right."""
    from sklearn.linear_model import LogisticRegression

    s = np.asarray(s, dtype=np.float64).reshape(-1, 1)
    y = np.asarray(y).reshape(-1) > 0.5
    if y.all() or not y.any():
        return 1.0, 0.0
    clf = LogisticRegression(C=100.0, max_iter=1000).fit(s, y)
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def rollup(conf: np.ndarray, classes: list[str], codebook) -> tuple[np.ndarray, list[str]]:
    """Add columns for every ancestor of the classes; returns (matrix, all code ids).

    Columns keep the order of ``classes`` followed by ancestors in codebook order.
    """
    columns = list(classes)
    ancestors = [c.id for c in codebook.walk() if c.id not in classes and
                 any(c.id in codebook.ancestors(k) for k in classes if k in codebook)]
    columns += ancestors
    out = np.zeros((conf.shape[0], len(columns)), dtype=np.float64)
    out[:, : len(classes)] = conf
    position = {c: i for i, c in enumerate(columns)}
    # deepest ancestors first, so a grandparent sees its children's rolled-up values
    for code in sorted(ancestors, key=lambda c: -codebook.depth(c)):
        kids = [position[k.id] for k in codebook.children(code) if k.id in position]
        miss = np.prod(1.0 - out[:, kids], axis=1) if kids else np.ones(conf.shape[0])
        out[:, position[code]] = 1.0 - miss
    for code in classes:  # a parent that was coded directly keeps the higher of the two
        if code in codebook and codebook.children(code):
            kids = [position[k.id] for k in codebook.children(code) if k.id in position]
            if kids:
                noisy_or = 1.0 - np.prod(1.0 - out[:, kids], axis=1)
                out[:, position[code]] = np.maximum(out[:, position[code]], noisy_or)
    return out, columns


def best_threshold(conf: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None
                   ) -> tuple[float, float]:
    """The threshold that maximises F1 for one code on held-out data; (threshold, f1)."""
    grid = np.round(np.arange(0.05, 0.951, 0.025), 3) if grid is None else grid
    y = np.asarray(y) > 0.5
    best = (0.5, -1.0)
    for t in grid:
        pred = conf >= t
        tp = float((pred & y).sum())
        denom = float(pred.sum() + y.sum())
        f1 = 2 * tp / denom if denom else 0.0
        if f1 > best[1] + 1e-12:
            best = (float(t), f1)
    return best
