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
    encoder.int8.onnx   the encoder exported to ONNX with int8 weights (the fast CPU backend;
                        written at training time, or on the first load of a directory without it)
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpus.codebook import Codebook, read_yaml, to_yaml
from corpus.errors import PrecodeInputError
from corpus.excerpts import CONTEXT, context_meta, with_context
from models.head import MultiLabelHead
from models.index import ExemplarIndex
from models.scoring import blend, neighbour_vote, platt, recalibrated, rollup, row_products

log = logging.getLogger(__name__)

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


def confidence_basis_of(model: Suggester | str | Path) -> dict:
    """What a model's confidences were measured on, and a caution where they are known not to
    hold on real speech (``models.model_card.confidence_basis``); ``model`` loaded or a model
    directory, read without loading it."""
    from models.model_card import confidence_basis

    if isinstance(model, Suggester):
        return confidence_basis(model.manifest, model.calibration)
    path = Path(model)
    try:
        calibration = json.loads((path / "thresholds.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrecodeInputError("not a precode model directory (missing thresholds.json)",
                                source=str(path)) from None
    return confidence_basis(read_manifest(path), calibration)


@dataclass
class Evidence:
    text: str
    codes: list[str]
    similarity: float
    id: str | None = None
    context: str | None = None  # the question the exemplar answered, where it had one


@dataclass
class Suggestion:
    code: str
    label: str
    confidence: float
    threshold: float
    definition: str = ""
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict:
        """As ``dataclasses.asdict`` would give it, built directly (asdict's deep copy was a
        tenth of pre-coding's time outside the encoder)."""
        return {"code": self.code, "label": self.label, "confidence": self.confidence,
                "threshold": self.threshold, "definition": self.definition,
                "evidence": [{"text": e.text, "codes": list(e.codes), "similarity": e.similarity,
                              "id": e.id, "context": e.context}
                             for e in self.evidence]}


@dataclass
class SegmentSuggestions:
    """The result for one text: suggestions best first; ``no_code`` when none passed."""

    suggestions: list[Suggestion]
    scores: dict[str, float] | None = None

    @property
    def no_code(self) -> bool:
        return not self.suggestions


@dataclass(frozen=True)
class SuggestionRequest:
    """One caller's texts and options, for :meth:`Suggester.suggest_many`."""

    texts: tuple[str, ...]
    min_confidence: float | None = None
    top_k: int | None = None
    # the question each text answers (None where there is none); read by a model trained with
    # contexts (``Suggester.reads_context``), ignored by any other
    contexts: tuple[str | None, ...] | None = None


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
    def load(cls, path: str | Path, *, device: str | None = None,
             backend: str | None = None) -> Suggester:
        """``backend``: ``auto`` (default, or ``PRECODE_ENCODER_BACKEND``) runs the encoder's
        int8 ONNX export on CPU and PyTorch on a GPU; ``onnx`` or ``torch`` force one."""
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

        return cls(encoder=_load_encoder(path, device=device, backend=backend),
                   head=MultiLabelHead.load(path / "head"),
                   lexical=LexicalHead.load(path / "lexical") if (path / "lexical").exists()
                   else None,
                   index=ExemplarIndex.load(path),
                   codebook=read_yaml(path / "codebook.yaml"),
                   calibration=json.loads((path / "thresholds.json").read_text()),
                   manifest=manifest, path=path)

    @property
    def backend(self) -> str:
        """Which encoder runs: ``onnx`` (int8, CPU) or ``torch``."""
        return getattr(self.encoder, "backend", "torch")

    @property
    def reads_context(self) -> bool:
        """Whether this model learnt from excerpts with their context (the question answered), so
        that it reads each text with its context."""
        return bool(self.manifest.get("reads_context"))

    def model_text(self, text: str, context: str | None) -> str:
        """What the model reads for ``text`` answering ``context``."""
        return with_context(text, context) if self.reads_context else text

    def _model_texts(self, texts, contexts) -> list[str]:
        if contexts is None or not self.reads_context:
            return list(texts)
        if len(contexts) != len(texts):
            raise PrecodeInputError(f"{len(contexts)} contexts for {len(texts)} texts",
                                    field="contexts")
        return [self.model_text(t, c) for t, c in zip(texts, contexts, strict=True)]

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

    def save(self, path: str | Path, *, export: bool = True) -> Path:
        """Write the model directory atomically: everything goes into ``<path>.part`` first, which
        then replaces ``path``, so a reader never sees half a model. Writes the model card too,
        and (``export``) the encoder's int8 ONNX export."""
        from models.model_card import model_card

        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.encoder.save(str(tmp / "encoder"))
        if export:
            _write_export(self.encoder, tmp)
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
                batch_size: int = 64, contexts: list[str | None] | None = None
                ) -> list[SegmentSuggestions]:
        """Suggestions for each text, best first.

        A code is suggested when its confidence reaches its calibrated threshold (and
        ``min_confidence``, when given). ``top_k`` keeps the best k. ``contexts`` (one per text,
        None for none) are the questions the texts answer, for a model that reads them.
        """
        ask = SuggestionRequest(tuple(texts), min_confidence, top_k,
                                tuple(contexts) if contexts is not None else None)
        [results] = self.suggest_many([ask],
                                      n_evidence=n_evidence, all_scores=all_scores,
                                      batch_size=batch_size)
        return results

    def suggest_many(self, requests: list[SuggestionRequest], *, n_evidence: int = 3,
                     all_scores: bool = False, batch_size: int = 64
                     ) -> list[list[SegmentSuggestions]]:
        """``suggest`` for several requests in one pass (one head pass, one exemplar search, one
        evidence pass for all their texts), each with its own options. Each request gets exactly
        what ``suggest`` gives it alone: a text's embedding and scores never depend on the texts
        beside it (the int8 encoder runs each text alone, the torch encoder each request's texts
        together, and the scores are computed row by row)."""
        read = [self._model_texts(r.texts, r.contexts) for r in requests]
        texts = [t for r in read for t in r]
        if not texts:
            return [[] for _ in requests]
        sizes = [len(r.texts) for r in requests]
        if self.backend == "onnx" or len(requests) == 1:
            emb = self.embed(texts, batch_size=batch_size)
        else:  # torch pads a batch to its longest text: its embeddings depend on the batch
            emb = np.vstack([self.embed(r, batch_size=batch_size) for r in read if r])
        conf, columns, _, _ = self.confidences(emb, texts)
        thresholds = self.calibration["thresholds"]
        limit = np.array([float(thresholds.get(code, 0.5)) for code in columns])
        floor = np.repeat([-np.inf if r.min_confidence is None else r.min_confidence
                           for r in requests], sizes)
        passing = (conf >= limit) & (conf >= floor[:, None])
        top_k = [r.top_k for r, n in zip(requests, sizes, strict=True) for _ in range(n)]
        # the codes each text gets, best first (ties by code id), then their evidence: one
        # matrix product per code for all the texts it is suggested for
        chosen: list[list[tuple[float, str, float, int]]] = []
        for i, js in enumerate(_row_indices(passing)):
            passed = sorted(((float(conf[i, j]), columns[j], float(limit[j]), j) for j in js),
                            key=lambda x: (-x[0], x[1]))
            chosen.append(passed[:top_k[i]] if top_k[i] is not None else passed)
        evidence = self._evidence(emb, [[code for _, code, _, _ in row] for row in chosen],
                                  n_evidence)
        results = []
        for i, passed in enumerate(chosen):
            suggestions = [self._make_suggestion(code, c, t, evidence[i, code])
                           for c, code, t, _ in passed]
            scores = None
            if all_scores:
                scores = {code: round(v, 6) for code, v in zip(columns, conf[i].tolist(),
                                                                strict=True)}
                for code in self.codebook.codes:
                    scores.setdefault(code, 0.0)
            results.append(SegmentSuggestions(suggestions=suggestions, scores=scores))
        ends = np.cumsum(sizes).tolist()
        return [results[end - n:end] for n, end in zip(sizes, ends, strict=True)]

    def _suggestion(self, code: str, confidence: float, threshold: float, embedding: np.ndarray,
                    n_evidence: int) -> Suggestion:
        evidence = self._evidence(np.asarray(embedding)[None, :], [[code]], n_evidence)
        return self._make_suggestion(code, confidence, threshold, evidence[0, code])

    def _make_suggestion(self, code: str, confidence: float, threshold: float,
                         evidence: list[Evidence]) -> Suggestion:
        meta = self.codebook.codes.get(code)
        return Suggestion(code=code, label=meta.label if meta else code,
                          confidence=round(confidence, 4), threshold=round(threshold, 4),
                          definition=meta.definition if meta else "", evidence=evidence)

    def _evidence(self, embeddings: np.ndarray, codes: list[list[str]], n_evidence: int
                  ) -> dict[tuple[int, str], list[Evidence]]:
        """The ``n_evidence`` nearest exemplars carrying each code (or a descendant) for each
        text ``i`` and code in ``codes[i]``: {(i, code): evidence, best first}."""
        rows_of: dict[str, list[int]] = {}
        for i, row in enumerate(codes):
            for code in row:
                rows_of.setdefault(code, []).append(i)
        vectors = self.index.vectors
        exemplars = self.index.exemplars
        out: dict[tuple[int, str], list[Evidence]] = {}
        for code, rows in rows_of.items():
            wanted = {code, *self.codebook.descendants(code)} if code in self.codebook else {code}
            positions = self._positions_for(frozenset(wanted))
            if len(positions) == 0:
                out.update(((i, code), []) for i in rows)
                continue
            sims = row_products(embeddings[rows], vectors[positions])  # row by row
            top = np.argsort(-sims, axis=1, kind="stable")[:, :n_evidence]
            for r, i in enumerate(rows):
                out[i, code] = [Evidence(text=exemplars[p].text, codes=list(exemplars[p].codes),
                                         similarity=round(s, 4), id=exemplars[p].id,
                                         context=exemplars[p].meta.get(CONTEXT))
                                for p, s in zip(positions[top[r]].tolist(),
                                                sims[r, top[r]].tolist(), strict=True)]
        return out

    def _positions_for(self, codes: frozenset[str]) -> np.ndarray:
        cache = self.__dict__.setdefault("_position_cache", {})
        if codes not in cache:
            cache[codes] = self.index.code_positions(set(codes))
        return cache[codes]

    # ---- growing the exemplar index -----------------------------------------------------------
    def add_exemplars(self, texts: list[str], codes: list[list[str]],
                      ids: list[str | None] | None = None,
                      contexts: list[str | None] | None = None) -> None:
        """Add newly coded excerpts to the index at once (visible as evidence and in the vote);
        ``contexts``: the questions they answer, if known."""
        from models.index import Exemplar

        ids = ids or [None] * len(texts)
        contexts = contexts or [None] * len(texts)
        for row, cs in enumerate(codes):
            unknown = [c for c in cs if c not in self.codebook]
            if unknown:
                raise PrecodeInputError(f"unknown code(s) {', '.join(unknown)}",
                                        field=f"codes[{row}]")
        emb = self.embed(self._model_texts(texts, contexts))
        self.index.add(emb, [Exemplar(text=t, codes=tuple(c), id=i,
                                      meta=context_meta(x))
                             for t, c, i, x in zip(texts, codes, ids, contexts, strict=True)])
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


def _row_indices(mask: np.ndarray) -> list[np.ndarray]:
    """The column indices that are True, for each row of a boolean matrix."""
    rows, cols = np.nonzero(mask)
    return np.split(cols, np.searchsorted(rows, np.arange(1, mask.shape[0])))


def _write_export(encoder, folder: Path) -> None:
    """Put the encoder's int8 ONNX export into a model directory being written: a copy of the one
    it runs, or a new export of a torch encoder. A model without it still loads (exporting then)."""
    from models.onnx_encoder import ONNX_FILE, export_onnx, exported_weights, weights_digest

    if getattr(encoder, "backend", "torch") == "onnx":
        if encoder.onnx_path.exists():
            shutil.copy2(encoder.onnx_path, folder / ONNX_FILE)
        return
    # a torch encoder loaded from a model directory: its export, while the weights are the same
    # (a refit keeps the encoder)
    known = getattr(encoder, "precode_export", None)
    if known is not None and Path(known).exists() and \
            exported_weights(known) == weights_digest(folder / "encoder"):
        shutil.copy2(known, folder / ONNX_FILE)
        return
    try:
        export_onnx(encoder, folder / "encoder", folder / ONNX_FILE)
    except Exception as exc:  # the model is whole without it; loading falls back to torch
        log.warning("encoder not exported to ONNX (%s: %s); the model runs on PyTorch",
                    type(exc).__name__, exc)


def _load_encoder(path: Path, *, device: str | None, backend: str | None):
    """The encoder of the model directory ``path`` with the backend asked for (see
    ``Suggester.load``). A directory without a current ONNX export gets one written into it (into
    a temporary folder when it is read-only); where that fails, ``auto`` falls back to torch."""
    from models.encoder import gpu_present, load_encoder, resolve_backend
    from models.onnx_encoder import ONNX_FILE, OnnxEncoder, export_is_current, export_onnx

    backend = resolve_backend(backend)
    encoder_dir = path / "encoder"
    on_gpu = (device or ("cuda" if gpu_present() else "cpu")) != "cpu"
    if backend == "torch" or (backend == "auto" and on_gpu):
        log.info("encoder backend: torch (%s)", "asked for" if backend == "torch" else "GPU")
        encoder = load_encoder(encoder_dir, device=device)
        encoder.precode_export = path / ONNX_FILE  # for save() to copy while the weights last
        return encoder
    onnx_path = path / ONNX_FILE
    torch_encoder = None
    try:
        if onnx_path.exists():
            try:
                encoder = OnnxEncoder(onnx_path, encoder_dir)
            except Exception as exc:  # an unreadable file: export again
                log.info("the ONNX export in %s does not load (%s)", path, type(exc).__name__)
                encoder = None
            if encoder is not None and export_is_current(encoder):
                log.info("encoder backend: onnx int8 (%s)", onnx_path)
                return encoder
            log.info("the ONNX export in %s is not of this encoder; exporting again", path)
        torch_encoder = load_encoder(encoder_dir, device="cpu")
        try:
            export_onnx(torch_encoder, encoder_dir, onnx_path)
            log.info("encoder backend: onnx int8, exported into %s", onnx_path)
            return OnnxEncoder(onnx_path, encoder_dir)
        except OSError:  # a read-only model directory: export for this process only
            with tempfile.TemporaryDirectory(prefix="precode-onnx-") as tmp:
                export_onnx(torch_encoder, encoder_dir, Path(tmp) / ONNX_FILE)
                encoder = OnnxEncoder(Path(tmp) / ONNX_FILE, encoder_dir)
            log.info("encoder backend: onnx int8, exported to a temporary file (%s is read-only)",
                     path)
            return encoder
    except Exception as exc:
        if backend == "onnx":
            raise
        log.warning("encoder backend: torch (no ONNX export: %s: %s)", type(exc).__name__, exc)
        return torch_encoder if torch_encoder is not None else load_encoder(encoder_dir,
                                                                            device=device)
