"""The lexical head: TF-IDF word and word-pair features with one logistic regression per code.

Wording carries part of a code's signal (the words people use when they judge a service differ
from those they use when they organise it); this head catches that, the encoder the rest. Saved as
numbers: the vocabulary (JSON), the idf weights and a :class:`MultiLabelHead`.

scikit-learn's ``TfidfVectorizer`` chooses the vocabulary and the idf weights when the head is
fitted; a text is turned into features by :func:`tfidf_rows`, which does what that vectorizer's
``transform`` does with these settings, so that suggesting never imports scikit-learn (about a
second of every command's start).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from models.head import MultiLabelHead

# scikit-learn's default word pattern: runs of two or more word characters
TOKEN = re.compile(r"(?u)\b\w\w+\b")

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
        self.vocabulary_ = {term: int(i) for term, i in self.vectorizer_.vocabulary_.items()}
        self.idf_ = np.asarray(self.vectorizer_.idf_, dtype=np.float64)
        self.head_ = MultiLabelHead(C=self.C, random_state=self.random_state).fit(
            self._features(texts), Y, classes)
        self.classes_ = list(classes)
        return self

    def _features(self, texts: list[str]) -> np.ndarray:
        return tfidf_rows(texts, self.vocabulary_, self.idf_)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.head_.predict_proba(self._features(texts))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocabulary.json").write_text(json.dumps(self.vocabulary_, ensure_ascii=False,
                                                           sort_keys=True))
        np.save(folder / "idf.npy", self.idf_)
        self.head_.save(folder / "head")

    @classmethod
    def load(cls, folder: str | Path) -> LexicalHead:
        folder = Path(folder)
        self = cls()
        self.vocabulary_ = json.loads((folder / "vocabulary.json").read_text())
        self.idf_ = np.load(folder / "idf.npy").astype(np.float64)
        self.head_ = MultiLabelHead.load(folder / "head")
        self.classes_ = list(self.head_.classes_)
        return self


def terms(text: str) -> list[str]:
    """The words (lower case, two or more word characters) and word pairs of a text."""
    words = TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def tfidf_rows(texts: list[str], vocabulary: dict[str, int], idf: np.ndarray) -> np.ndarray:
    """TF-IDF features (texts x vocabulary, float32): 1 + log of each known term's count, times
    its idf, each row scaled to unit length; a text with no known term is all zeros."""
    out = np.zeros((len(texts), len(idf)), dtype=np.float32)
    for row, text in enumerate(texts):
        counts = Counter(vocabulary[t] for t in terms(text) if t in vocabulary)
        if not counts:
            continue
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        values = (1.0 + np.log(tf)) * idf[cols]
        out[row, cols] = values / np.sqrt(np.sum(values * values))
    return out
