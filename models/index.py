"""The exemplar index: coded excerpts with their normalised embeddings in a FAISS index.

Inner product on L2-normalised vectors is cosine similarity. The index is exact (``IndexFlatIP``)
up to ``exact_max`` exemplars and HNSW above: in `precode bench speed` runs exact search was the
faster at 2,000 exemplars, HNSW 1.3 to 1.7 times as fast at 5,000 and at least 2.5 times from
10,000 on, at full recall (eval/results/speed.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EXACT_MAX = 4_000


@dataclass
class Exemplar:
    text: str
    codes: tuple[str, ...]
    id: str | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"id": self.id, "text": self.text, "codes": list(self.codes)}
        out.update(self.meta)
        return out


class ExemplarIndex:
    def __init__(self, dim: int, *, exact_max: int = EXACT_MAX, hnsw_m: int = 32):
        self.dim = dim
        self.exact_max = exact_max
        self.hnsw_m = hnsw_m
        self.exemplars: list[Exemplar] = []
        self._index = None
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.exemplars)

    @property
    def kind(self) -> str:
        return "flat" if len(self) <= self.exact_max else "hnsw"

    def _build(self) -> None:
        import faiss

        if self.kind == "flat":
            index = faiss.IndexFlatIP(self.dim)
        else:
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        if len(self._vectors):
            index.add(self._vectors)
        self._index = index

    def add(self, vectors: np.ndarray, exemplars: list[Exemplar]) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(exemplars), self.dim):
            raise ValueError(f"vectors {vectors.shape} do not match {len(exemplars)} exemplars")
        was_flat = self._index is not None and self.kind == "flat"
        self._vectors = np.vstack([self._vectors, vectors])
        self.exemplars.extend(exemplars)
        if self._index is None or (was_flat and self.kind != "flat"):
            self._build()
        else:
            self._index.add(vectors)

    @property
    def vectors(self) -> np.ndarray:
        """The exemplars' normalised embeddings, in index order (read-only view)."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    def copy(self) -> ExemplarIndex:
        """An independent index with the same exemplars (adding to or removing from the copy
        leaves this one as it is)."""
        out = ExemplarIndex(self.dim, exact_max=self.exact_max, hnsw_m=self.hnsw_m)
        if len(self):
            out.add(self._vectors.copy(), list(self.exemplars))
        return out

    def remove(self, ids: set[str]) -> int:
        """Drop the exemplars whose id is in ``ids``; returns how many went. The FAISS index is
        rebuilt from the remaining vectors (HNSW cannot delete in place)."""
        keep = [i for i, ex in enumerate(self.exemplars) if ex.id is None or ex.id not in ids]
        gone = len(self.exemplars) - len(keep)
        if gone:
            self._vectors = np.ascontiguousarray(self._vectors[keep])
            self.exemplars = [self.exemplars[i] for i in keep]
            self._build()
        return gone

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Similarities and exemplar positions (-1 where fewer than k exist), best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            return (np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64))
        return self._index.search(queries, k)

    def search_among(self, query: np.ndarray, positions: np.ndarray, k: int
                     ) -> list[tuple[int, float]]:
        """The k nearest exemplars among ``positions`` (e.g. those carrying one code)."""
        if len(positions) == 0:
            return []
        sims = self._vectors[positions] @ np.asarray(query, dtype=np.float32)
        top = np.argsort(-sims, kind="stable")[:k]
        return [(int(positions[i]), float(sims[i])) for i in top]

    def save(self, folder: str | Path) -> None:
        import faiss

        folder = Path(folder)
        faiss.write_index(self._index, str(folder / "index.faiss"))
        with (folder / "exemplars.jsonl").open("w", encoding="utf-8") as fh:
            for ex in self.exemplars:
                fh.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> ExemplarIndex:
        import faiss

        folder = Path(folder)
        index = faiss.read_index(str(folder / "index.faiss"))
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = 128
        exemplars = read_exemplars(folder)
        self = cls(index.d)
        self.exemplars = exemplars
        self._index = index
        self._vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else \
            np.zeros((0, index.d), dtype=np.float32)
        if self.kind != ("flat" if isinstance(index, faiss.IndexFlat) else "hnsw"):
            self.exact_max = len(self) if isinstance(index, faiss.IndexFlat) else len(self) - 1
        return self

    def code_positions(self, codes: set[str]) -> np.ndarray:
        return np.array([i for i, ex in enumerate(self.exemplars) if codes & set(ex.codes)],
                        dtype=np.int64)


def read_exemplars(folder: str | Path) -> list[Exemplar]:
    """The exemplars of a model directory, in index order, without loading the index."""
    exemplars = []
    with (Path(folder) / "exemplars.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            meta = {k: v for k, v in row.items() if k not in ("id", "text", "codes")}
            exemplars.append(Exemplar(text=row["text"], codes=tuple(row["codes"]),
                                      id=row.get("id"), meta=meta))
    return exemplars
