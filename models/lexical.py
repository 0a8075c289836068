"""The lexical head: TF-IDF word and word-pair features with one logistic regression per code.

Wording carries part of a code's signal (the words people use when they judge a service differ
from those they use when they organise it); this head catches that, the encoder the rest. Saved as
numbers: the vocabulary (JSON), the idf weights and a :class:`MultiLabelHead`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.head import MultiLabelHead

VECTORIZER = dict(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=20000,
                  dtype=np.float32)


class LexicalHead:
    def __init__(self, C: float = 4.0, random_state: int = 0):
        self.C = C
        self.random_state = random_state

    def fit(self, texts: list[str], Y: np.ndarray, classes: list[str]) -> LexicalHead:
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            self.vectorizer_ = TfidfVectorizer(**VECTORIZER).fit(texts)
        except ValueError:  # too few texts for min_df: keep every term
            self.vectorizer_ = TfidfVectorizer(**{**VECTORIZER, "min_df": 1}).fit(texts)
        self.head_ = MultiLabelHead(C=self.C, random_state=self.random_state).fit(
            self._features(texts), Y, classes)
        self.classes_ = list(classes)
        return self

    def _features(self, texts: list[str]) -> np.ndarray:
        return self.vectorizer_.transform(texts).toarray()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.predict_proba(self._features(texts))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vocab = {term: int(i) for term, i in self.vectorizer_.vocabulary_.items()}
        (folder / "vocabulary.json").write_text(json.dumps(vocab, ensure_ascii=False, sort_keys=True))
        np.save(folder / "idf.npy", self.vectorizer_.idf_)
        self.head_.save(folder / "head")

    @classmethod
    def load(cls, folder: str | Path) -> LexicalHead:
        from sklearn.feature_extraction.text import TfidfVectorizer

        folder = Path(folder)
        vocab = json.loads((folder / "vocabulary.json").read_text())
        vectorizer = TfidfVectorizer(**{**VECTORIZER, "vocabulary": vocab})
        vectorizer.idf_ = np.load(folder / "idf.npy")
        self = cls()
        self.vectorizer_ = vectorizer
        self.head_ = MultiLabelHead.load(folder / "head")
        self.classes_ = list(self.head_.classes_)
        return self
