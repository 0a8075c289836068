"""Classifier metrics for multi-label code suggestions (used by training's model card and by the
benchmarks). Inputs are 0/1 matrices (units x codes)."""

from __future__ import annotations

import numpy as np


def prf(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float, int]:
    """Precision, recall, F1 and support for one code (0/1 vectors). Undefined ratios are 0."""
    t = np.asarray(y_true) > 0.5
    p = np.asarray(y_pred) > 0.5
    tp = float((t & p).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / t.sum() if t.sum() else 0.0
    f1 = 2 * tp / (t.sum() + p.sum()) if (t.sum() + p.sum()) else 0.0
    return float(precision), float(recall), float(f1), int(t.sum())


def binary_kappa(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Cohen's kappa for present/absent decisions (nan when chance agreement is 1)."""
    t = np.asarray(y_true).ravel() > 0.5
    p = np.asarray(y_pred).ravel() > 0.5
    n = len(t)
    if n == 0:
        return float("nan")
    po = float((t == p).mean())
    pe = float(t.mean() * p.mean() + (1 - t.mean()) * (1 - p.mean()))
    return float("nan") if pe >= 1.0 else (po - pe) / (1.0 - pe)


def report(y_true: np.ndarray, y_pred: np.ndarray, columns: list[str],
           scores: np.ndarray | None = None) -> dict:
    """Per-code precision/recall/F1/kappa, macro-F1 over codes present in the data, pooled kappa,
    and (with scores) top-1/top-2 accuracy: share of coded units whose best (or two best) scored
    codes include a true code."""
    per_code = {}
    for j, code in enumerate(columns):
        p, r, f, n = prf(y_true[:, j], y_pred[:, j])
        per_code[code] = {"precision": p, "recall": r, "f1": f, "support": n,
                          "kappa": binary_kappa(y_true[:, j], y_pred[:, j])}
    present = [c for c in columns if per_code[c]["support"] > 0]
    kappas = [per_code[c]["kappa"] for c in present if not np.isnan(per_code[c]["kappa"])]
    out = {
        "macro_f1": float(np.mean([per_code[c]["f1"] for c in present])) if present else 0.0,
        "micro_f1": prf(y_true, y_pred)[2],
        "mean_kappa": float(np.mean(kappas)) if kappas else float("nan"),
        "pooled_kappa": binary_kappa(y_true, y_pred),
        "precision": prf(y_true, y_pred)[0],
        "recall": prf(y_true, y_pred)[1],
        "no_code_accuracy": float(((y_true.sum(1) == 0) == (y_pred.sum(1) == 0)).mean())
        if len(y_true) else 0.0,
        "per_code": per_code,
    }
    if scores is not None:
        coded = y_true.sum(1) > 0
        order = np.argsort(-scores, axis=1, kind="stable")
        for k in (1, 2):
            hits = [bool(y_true[i, order[i, :k]].any()) for i in np.where(coded)[0]]
            out[f"top{k}_accuracy"] = float(np.mean(hits)) if hits else 0.0
    return out
