"""The Suggester: encoder + head + exemplar index, loaded from and saved to a model directory.
This module is the only code that knows the directory's layout (``Suggester.load`` / ``save``,
``read_manifest``, ``is_model_dir``).

A model directory holds::

    precode.json        manifest: format version, library versions, seed, training data hash
    encoder/            the (fine-tuned) sentence-transformers model
    head/               weights.npz + config.json of the multi-label head
    lexical/            the TF-IDF head (only when the blend gives it weight)
    thresholds.json     blend weight, Platt mapping, one threshold per code (parents included)
    codebook.yaml       the codebook the model suggests from
    index.faiss         FAISS index over the exemplars' normalised embeddings
    exemplars.jsonl     the exemplars' texts and codes, in index order
    model_card.md       data summary, held-out metrics, versions
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from corpus.codebook import Codebook, read_yaml, to_yaml
from corpus.errors import PrecodeInputError
from models.head import MultiLabelHead
from models.index import ExemplarIndex
from models.scoring import blend, neighbour_vote, platt, recalibrated, rollup

FORMAT_VERSION = 1
REQUIRED_FILES = ("precode.json", "encoder", "head", "thresholds.json", "codebook.yaml",
                  "index.faiss", "exemplars.jsonl")


def is_model_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a complete model (a save that finished)."""
    return (Path(path) / "precode.json").exists()


def read_manifest(path: str | Path) -> dict:
    """A model directory's manifest (``precode.json``) without loading the model."""
    path = Path(path)
    try:
        return json.loads((path / "precode.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrecodeInputError("not a precode model directory (missing precode.json)",
                                source=str(path)) from None


@dataclass
class Evidence:
    text: str
    codes: list[str]
    similarity: float
    id: str | None = None


@dataclass
class Suggestion:
    code: str
    label: str
    confidence: float
    threshold: float
    definition: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SegmentSuggestions:
    """The result for one text: suggestions best first; ``no_code`` when none passed."""

    suggestions: list[Suggestion]
    scores: dict[str, float] | None = None

    @property
    def no_code(self) -> bool:
        return not self.suggestions


class Suggester:
    def __init__(self, *, encoder, head: MultiLabelHead, index: ExemplarIndex, codebook: Codebook,
                 calibration: dict, manifest: dict, path: Path | None = None, lexical=None):
        self.encoder = encoder
        self.head = head
        self.lexical = lexical
        self.index = index
        self.codebook = codebook
        self.calibration = calibration
        self.manifest = manifest
        self.path = path
        self.classes_ = list(head.classes_)
        self._refresh_exemplar_labels()

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> Suggester:
        from models.encoder import load_encoder

        path = Path(path)
        missing = [f for f in REQUIRED_FILES if not (path / f).exists()]
        if missing:
            raise PrecodeInputError(f"not a precode model directory (missing {', '.join(missing)})",
                                    source=str(path))
        manifest = read_manifest(path)
        if manifest.get("format_version", 0) > FORMAT_VERSION:
            raise PrecodeInputError(f"model format {manifest.get('format_version')} is newer than "
                                    f"this precode understands ({FORMAT_VERSION})",
                                    source=str(path))
        from models.lexical import LexicalHead

        return cls(encoder=load_encoder(path / "encoder", device=device),
                   head=MultiLabelHead.load(path / "head"),
                   lexical=LexicalHead.load(path / "lexical") if (path / "lexical").exists()
                   else None,
                   index=ExemplarIndex.load(path),
                   codebook=read_yaml(path / "codebook.yaml"),
                   calibration=json.loads((path / "thresholds.json").read_text()),
                   manifest=manifest, path=path)

    @property
    def encoder_dir(self) -> Path | None:
        """Where the saved encoder of this model lies (to train a new version from it)."""
        return self.path / "encoder" if self.path is not None else None

    def copy(self) -> Suggester:
        """A Suggester sharing this one's encoder, head and calibration, with its own copy of the
        exemplar index (to grow it without touching the original)."""
        return Suggester(encoder=self.encoder, head=self.head, index=self.index.copy(),
                         codebook=self.codebook, calibration=self.calibration,
                         manifest=self.manifest, path=self.path, lexical=self.lexical)

    def save(self, path: str | Path) -> Path:
        """Write the model directory atomically: everything goes into ``<path>.part`` first, which
        then replaces ``path``, so a reader never sees half a model. Writes the model card too."""
        from models.model_card import model_card

        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.encoder.save(str(tmp / "encoder"))
        self.head.save(tmp / "head")
        if self.lexical is not None:
            self.lexical.save(tmp / "lexical")
        self.index.save(tmp)
        (tmp / "codebook.yaml").write_text(to_yaml(self.codebook), encoding="utf-8")
        (tmp / "thresholds.json").write_text(json.dumps(self.calibration, indent=2))
        manifest = {"format_version": FORMAT_VERSION,
                    **{k: v for k, v in self.manifest.items() if k != "format_version"}}
        (tmp / "precode.json").write_text(json.dumps(manifest, indent=2))
        (tmp / "model_card.md").write_text(model_card(manifest, self.calibration, self.codebook),
                                           encoding="utf-8")
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
        self.path, self.manifest = path, manifest
        return path

    def _refresh_exemplar_labels(self) -> None:
        from corpus.excerpts import Excerpt, multi_hot

        self._exemplar_labels = multi_hot(
            (Excerpt(text=e.text, codes=e.codes) for e in self.index.exemplars), self.classes_)

    # ---- scoring ------------------------------------------------------------------------------
    def embed(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        from models.encoder import encode

        return encode(self.encoder, texts, batch_size=batch_size)

    def confidences(self, embeddings: np.ndarray, texts: list[str]
                    ) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """Calibrated confidence per code (parents included): (matrix, code ids, sims, ids)."""
        cal = self.calibration
        p = self.head.predict_proba(embeddings)
        sims, ids = self.index.search(embeddings, cal["k_vote"])
        v = neighbour_vote(sims, ids, self._exemplar_labels)
        w_lex = cal.get("lexical_weight", 0.0) if self.lexical is not None else 0.0
        lex = self.lexical.predict_proba(texts) if w_lex else None
        conf = platt(blend(p, v, cal["blend_weight"], lex, w_lex), cal["platt"]["a"],
                     cal["platt"]["b"])
        full, columns = rollup(conf, self.classes_, self.codebook)
        if cal.get("recalibration"):
            full = recalibrated(full, cal["recalibration"]["a"], cal["recalibration"]["b"])
        return full, columns, sims, ids

    def suggest(self, texts: list[str], *, min_confidence: float | None = None,
                top_k: int | None = None, n_evidence: int = 3, all_scores: bool = False,
                batch_size: int = 64) -> list[SegmentSuggestions]:
        """Suggestions for each text, best first.

        A code is suggested when its confidence reaches its calibrated threshold (and
        ``min_confidence``, when given). ``top_k`` keeps the best k.
        """
        if not texts:
            return []
        emb = self.embed(list(texts), batch_size=batch_size)
        conf, columns, _, _ = self.confidences(emb, list(texts))
        thresholds = self.calibration["thresholds"]
        results = []
        for i in range(len(texts)):
            passed = []
            for j, code in enumerate(columns):
                c = float(conf[i, j])
                t = float(thresholds.get(code, 0.5))
                if c >= t and (min_confidence is None or c >= min_confidence):
                    passed.append((c, code, t))
            passed.sort(key=lambda x: (-x[0], x[1]))
            if top_k is not None:
                passed = passed[:top_k]
            suggestions = [self._suggestion(code, c, t, emb[i], n_evidence)
                           for c, code, t in passed]
            scores = ({code: round(float(conf[i, j]), 6) for j, code in enumerate(columns)}
                      if all_scores else None)
            if scores is not None:
                for code in self.codebook.codes:
                    scores.setdefault(code, 0.0)
            results.append(SegmentSuggestions(suggestions=suggestions, scores=scores))
        return results

    def _suggestion(self, code: str, confidence: float, threshold: float, embedding: np.ndarray,
                    n_evidence: int) -> Suggestion:
        wanted = {code, *self.codebook.descendants(code)} if code in self.codebook else {code}
        positions = self._positions_for(frozenset(wanted))
        evidence = [Evidence(text=self.index.exemplars[p].text,
                             codes=list(self.index.exemplars[p].codes),
                             similarity=round(s, 4), id=self.index.exemplars[p].id)
                    for p, s in self.index.search_among(embedding, positions, n_evidence)]
        meta = self.codebook.codes.get(code)
        return Suggestion(code=code, label=meta.label if meta else code,
                          confidence=round(confidence, 4), threshold=round(threshold, 4),
                          definition=meta.definition if meta else "", evidence=evidence)

    def _positions_for(self, codes: frozenset[str]) -> np.ndarray:
        cache = self.__dict__.setdefault("_position_cache", {})
        if codes not in cache:
            cache[codes] = self.index.code_positions(set(codes))
        return cache[codes]

    # ---- growing the exemplar index -----------------------------------------------------------
    def add_exemplars(self, texts: list[str], codes: list[list[str]],
                      ids: list[str | None] | None = None) -> None:
        """Add newly coded excerpts to the index at once (visible as evidence and in the vote)."""
        from models.index import Exemplar

        ids = ids or [None] * len(texts)
        for row, cs in enumerate(codes):
            unknown = [c for c in cs if c not in self.codebook]
            if unknown:
                raise PrecodeInputError(f"unknown code(s) {', '.join(unknown)}",
                                        field=f"codes[{row}]")
        emb = self.embed(texts)
        self.index.add(emb, [Exemplar(text=t, codes=tuple(c), id=i)
                             for t, c, i in zip(texts, codes, ids, strict=True)])
        self._index_changed()

    def remove_exemplars(self, ids: set[str]) -> int:
        """Take exemplars out of the index by id (a coding people withdrew); returns how many."""
        gone = self.index.remove(ids)
        if gone:
            self._index_changed()
        return gone

    def _index_changed(self) -> None:
        self._refresh_exemplar_labels()
        self.__dict__.pop("_position_cache", None)
