"""The multi-label head: one logistic regression per code on sentence embeddings.

A plain estimator in the scikit-learn manner: ``__init__`` stores parameters, ``fit`` returns
``self``, learned state ends in ``_`` and ``predict_proba`` columns follow ``classes_``. Weights are
saved as numbers (``weights.npz`` + ``config.json``), not pickles, so any version can reload them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.scoring import row_products


class MultiLabelHead:
    def __init__(self, C: float = 4.0, class_weight: str | None = "balanced",
                 max_iter: int = 2000, random_state: int = 0):
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X: np.ndarray, Y: np.ndarray, classes: list[str]) -> MultiLabelHead:
        """``Y`` is a multi-hot (n, len(classes)) matrix. A code with no positive (or no negative)
        example gets a constant probability equal to its share in the data."""
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y)
        if Y.shape != (X.shape[0], len(classes)):
            raise ValueError(f"Y has shape {Y.shape}, expected {(X.shape[0], len(classes))}")
        coef = np.zeros((len(classes), X.shape[1]))
        intercept = np.zeros(len(classes))
        for j in range(len(classes)):
            y = Y[:, j] > 0.5
            share = float(y.mean()) if len(y) else 0.0
            if share in (0.0, 1.0):
                share = min(max(share, 1e-4), 1 - 1e-4)
                intercept[j] = np.log(share / (1 - share))
                continue
            clf = LogisticRegression(C=self.C, class_weight=self.class_weight,
                                     max_iter=self.max_iter, random_state=self.random_state)
            clf.fit(X, y)
            coef[j] = clf.coef_[0]
            intercept[j] = clf.intercept_[0]
        self.classes_ = list(classes)
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        self.n_positive_ = (Y > 0.5).sum(axis=0).astype(int).tolist()
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        # each row on its own: a text's scores are the same alone or with others
        return row_products(X, self.coef_) + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = np.clip(self.decision_function(X), -40, 40)
        return 1.0 / (1.0 + np.exp(-z))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "weights.npz", coef=self.coef_, intercept=self.intercept_)
        (folder / "config.json").write_text(json.dumps({
            "type": "MultiLabelHead", "C": self.C, "class_weight": self.class_weight,
            "max_iter": self.max_iter, "random_state": self.random_state,
            "classes": self.classes_, "n_positive": self.n_positive_}, indent=2))

    @classmethod
    def load(cls, folder: str | Path) -> MultiLabelHead:
        folder = Path(folder)
        cfg = json.loads((folder / "config.json").read_text())
        head = cls(C=cfg["C"], class_weight=cfg["class_weight"], max_iter=cfg["max_iter"],
                   random_state=cfg["random_state"])
        with np.load(folder / "weights.npz") as w:
            head.coef_ = w["coef"]
            head.intercept_ = w["intercept"]
        head.classes_ = cfg["classes"]
        head.n_positive_ = cfg["n_positive"]
        return head
