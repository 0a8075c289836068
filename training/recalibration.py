"""Confidence that means what it says on a researcher's own speech.

A model's confidences are calibrated on a held-out part of its training data. When that data was
written differently from the researcher's transcripts (the built-in model learns from authored
excerpts), a confidence of 0.7 can be right far less often than 70% of the time. ``recalibrate``
fits a second mapping (``models.scoring.recalibrated``) on excerpts the researcher has coded
themselves, and makes the model abstain where it cannot do better than a coin: a code is suggested
only where its recalibrated confidence reaches ``floor`` (by default 0.5, more likely right than
wrong) and the threshold that best separates the researcher's codings. The mapping never turns
the model's order round: where higher confidence goes with being right less often, every segment
gets the base rate.

Only the columns the coded excerpts speak to are judged: the codes they use and their ancestors
(an excerpt coded with a construct says nothing about that construct's sub-codes). Excerpts whose
text is one of the model's exemplars are left out, since the model would find itself. The
figures reported beside the mapping are cross-fitted: the mapping is fitted on one half of the
excerpts and measured on the other, then the other way round.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt, context_of
from models.scoring import best_threshold, fit_platt, recalibrated
from models.suggester import Suggester

__all__ = ["MIN_EXCERPTS", "RecalibrationReport", "fit_recalibration", "judged_truth",
           "recalibrate", "refit_recalibrated", "reliability"]

Stage = Callable[[str], None]

MIN_EXCERPTS = 20
BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def judged_truth(excerpts: list[Excerpt], columns: list[str], codebook: Codebook
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(truth, judged): ``truth[i, j]`` is whether code ``columns[j]`` applies to excerpt ``i``
    (itself or through a sub-code); ``judged[j]`` whether the excerpts speak to that column."""
    used: set[str] = set()
    truth = np.zeros((len(excerpts), len(columns)), dtype=bool)
    position = {c: j for j, c in enumerate(columns)}
    for i, ex in enumerate(excerpts):
        for code in ex.codes:
            for c in (code, *(codebook.ancestors(code) if code in codebook else ())):
                used.add(c)
                if c in position:
                    truth[i, position[c]] = True
    judged = np.array([c in used for c in columns], dtype=bool)
    return truth, judged


def reliability(conf: np.ndarray, hit: np.ndarray) -> tuple[list[dict], float]:
    """Bins of confidence with their mean confidence and observed share of hits; the expected
    calibration error (ECE)."""
    conf, hit = np.asarray(conf).ravel(), np.asarray(hit).ravel().astype(float)
    rows, ece = [], 0.0
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        m = (conf >= lo) & (conf < hi)
        if not m.any():
            continue
        rows.append({"bin": f"{lo:.1f}-{min(hi, 1.0):.1f}", "n": int(m.sum()),
                     "confidence": float(conf[m].mean()), "observed": float(hit[m].mean())})
        ece += m.sum() / len(conf) * abs(conf[m].mean() - hit[m].mean())
    return rows, float(ece)


def fit_recalibration(conf: np.ndarray, truth: np.ndarray, judged: np.ndarray, columns: list[str],
                      old_thresholds: dict[str, float], *, floor: float = 0.5) -> dict:
    """The mapping ``a, b`` fitted on the judged columns, and a threshold for every column: the
    threshold with the best F1 on the judged ones, never below ``floor``; the old threshold
    carried through the mapping (and at least ``floor``) for the others."""
    x, y = conf[:, judged], truth[:, judged]
    c = np.clip(x, 1e-6, 1.0 - 1e-6)
    if y.all() or not y.any():
        # every judged decision went one way (all rejected, or all accepted): nothing to fit a
        # slope on; the base rate, smoothed, for every segment
        a, b = -1.0, 0.0
    else:
        a, b = fit_platt(np.log(c / (1.0 - c)).ravel(), y.ravel())
    if a < 0.0:
        # higher confidence, less often right: the mapping does not turn the model round, it
        # says what is known, the base rate, for every segment
        rate = float((y.sum() + 1.0) / (y.size + 2.0))
        a, b = 0.0, float(np.log(rate / (1.0 - rate)))
    rec = recalibrated(conf, a, b)
    thresholds = {}
    for j, code in enumerate(columns):
        if judged[j] and truth[:, j].any():
            t = best_threshold(rec[:, j], truth[:, j])[0]
        else:
            t = float(recalibrated(np.array([old_thresholds.get(code, 0.5)]), a, b)[0])
        thresholds[code] = round(max(floor, t), 4)
    return {"a": a, "b": b, "floor": floor, "thresholds": thresholds}


@dataclass
class RecalibrationReport:
    """What ``precode calibrate`` says: how many excerpts were used, and on held-out halves the
    calibration error and suggestions before and after."""

    n_excerpts: int
    n_left_out: int
    judged: list[str]
    before: dict
    after: dict

    def to_dict(self) -> dict:
        return {"n_excerpts": self.n_excerpts, "n_left_out": self.n_left_out,
                "judged": self.judged, "before": self.before, "after": self.after}


def _summary(conf: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> dict:
    table, ece = reliability(conf, truth)
    right = truth[pred]
    return {"ece": round(ece, 4), "reliability": table,
            "suggested_share": round(float(pred.any(1).mean()), 4) if len(pred) else 0.0,
            "suggestions": int(pred.sum()),
            "precision": round(float(right.mean()), 4) if right.size else None}


def recalibrate(model: Suggester, excerpts: list[Excerpt], *, floor: float = 0.5, seed: int = 0,
                source: str = "") -> tuple[Suggester, RecalibrationReport]:
    """A copy of ``model`` whose confidences are mapped on ``excerpts`` (coded by the researcher,
    in the model's codebook), with the cross-fitted report. ``model`` is left unchanged."""
    if not 0.0 < floor < 1.0:
        raise PrecodeInputError("the abstention floor must be between 0 and 1", field="floor")
    known = {e.text for e in model.index.exemplars}
    usable = [e for e in excerpts if e.text not in known and e.codes]
    left_out = len(excerpts) - len(usable)
    if len(usable) < MIN_EXCERPTS:
        raise PrecodeInputError(
            f"{len(usable)} coded excerpts can be used ({left_out} were empty or among the model's "
            f"own exemplars); calibrating needs at least {MIN_EXCERPTS}", source=source or None)
    base = dict(model.calibration)
    base.pop("recalibration", None)
    plain = model.copy()
    plain.calibration = base
    texts = [plain.model_text(e.text, context_of(e)) for e in usable]
    conf, columns, _, _ = plain.confidences(plain.embed(texts), texts)
    truth, judged = judged_truth(usable, columns, model.codebook)
    if not judged.any():
        raise PrecodeInputError("none of the coded excerpts' codes is one the model suggests",
                                source=source or None)
    final, report = _fit_and_report(conf, truth, judged, columns, base["thresholds"],
                                    floor=floor, seed=seed, n_left_out=left_out)
    out = model.copy()
    out.calibration = dict(base, thresholds=final["thresholds"], recalibration={
        "a": final["a"], "b": final["b"], "floor": floor, "source": source,
        **report.to_dict()})
    return out, report


def _fit_and_report(conf: np.ndarray, truth: np.ndarray, judged: np.ndarray, columns: list[str],
                    thresholds: dict[str, float], *, floor: float, seed: int, n_left_out: int
                    ) -> tuple[dict, RecalibrationReport]:
    """The mapping fitted on every row, with figures cross-fitted on halves (fit on one half,
    measured on the other, then the other way round)."""
    old_t = np.array([thresholds.get(c, 0.5) for c in columns])
    order = np.random.default_rng(seed).permutation(len(conf))
    halves = [order[: len(order) // 2], order[len(order) // 2:]]
    after_conf = np.zeros_like(conf)
    after_pred = np.zeros_like(conf, dtype=bool)
    for k in (0, 1):
        fit, test = halves[1 - k], halves[k]
        r = fit_recalibration(conf[fit], truth[fit], judged, columns, thresholds, floor=floor)
        after_conf[test] = recalibrated(conf[test], r["a"], r["b"])
        after_pred[test] = after_conf[test] >= np.array([r["thresholds"][c] for c in columns])
    j = judged
    report = RecalibrationReport(
        n_excerpts=len(conf), n_left_out=n_left_out,
        judged=[c for c, u in zip(columns, j, strict=True) if u],
        before=_summary(conf[:, j], truth[:, j], (conf >= old_t)[:, j]),
        after=_summary(after_conf[:, j], truth[:, j], after_pred[:, j]))
    final = fit_recalibration(conf, truth, judged, columns, thresholds, floor=floor)
    return final, report


def refit_recalibrated(model_dir: str | Path, base: list[Excerpt], reviewed: list[Excerpt],
                       out: str | Path, *, codebook: Codebook | None = None,
                       rejected: dict[str, list[str]] | None = None, floor: float = 0.5,
                       folds: int = 5, seed: int = 0, stage: Stage | None = None
                       ) -> tuple[Path, RecalibrationReport | None]:
    """A refit of ``model_dir`` on ``base`` + ``reviewed`` whose confidences are mapped on the
    reviewed segments themselves, as ``recalibrate`` maps them on a coded file.

    The reviewed segments become exemplars of the new model, which would find them again, so
    their confidences are taken out of fold: the model is refitted ``folds`` times, each time
    without one fold of the reviewed segments, and scores that fold. A segment whose suggestions
    were all rejected counts (its rejected codes are judged, and none applies): ``rejected`` maps
    a reviewed excerpt's id to the codes rejected on it. With fewer than ``MIN_EXCERPTS`` reviewed
    segments, or none judged, the refit is returned as it is, with no report.
    """
    from training.train import refit_model

    stage = stage or (lambda msg: None)
    out = refit_model(model_dir, base + reviewed, out, codebook=codebook, stage=stage)
    rejected = rejected or {}
    usable = [e for e in reviewed if e.codes or rejected.get(e.id)]
    if len(usable) < MIN_EXCERPTS:
        return out, None
    model = Suggester.load(out)
    probe = [usable[0].text]
    columns = list(model.confidences(model.embed(probe), probe)[1])
    position = {c: j for j, c in enumerate(columns)}
    truth, judged = judged_truth(usable, columns, model.codebook)
    for code in {c for e in usable for c in rejected.get(e.id, ())}:
        for c in (code, *(model.codebook.ancestors(code) if code in model.codebook else ())):
            if c in position:
                judged[position[c]] = True
    if not judged.any():
        return out, None
    conf = np.zeros((len(usable), len(columns)))
    parts = np.array_split(np.random.default_rng(seed).permutation(len(usable)),
                           min(folds, len(usable)))
    with tempfile.TemporaryDirectory(prefix="precode-recal-") as tmp:
        for k, held in enumerate(parts):
            stage(f"scoring reviewed segments out of fold ({k + 1} of {len(parts)})")
            keep = set(range(len(usable))) - set(held.tolist())
            fold_dir = refit_model(model_dir, base + [usable[i] for i in sorted(keep)],
                                   Path(tmp) / f"fold{k}", codebook=codebook,
                                   stage=lambda msg: None)
            fold = Suggester.load(fold_dir)
            texts = [fold.model_text(usable[i].text, context_of(usable[i])) for i in held]
            c, cols, _, _ = fold.confidences(fold.embed(texts), texts)
            for jj, code in enumerate(cols):
                if code in position:
                    conf[held, position[code]] = c[:, jj]
    thresholds = model.calibration["thresholds"]
    final, report = _fit_and_report(conf, truth, judged, columns, thresholds, floor=floor,
                                    seed=seed, n_left_out=len(reviewed) - len(usable))
    model.calibration = dict(model.calibration, thresholds=final["thresholds"], recalibration={
        "a": final["a"], "b": final["b"], "floor": floor,
        "source": f"{len(usable)} reviewed segments, scored out of {len(parts)} folds",
        **report.to_dict()})
    model.save(out)
    return out, report
