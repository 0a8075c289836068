"""Quality on real data, the judge of every change to the model.

- ``npt_quotes_dev``: every system learns from the seed corpus and reads the real participant
  quotes; the construct with the highest confidence among the four NPT constructs is compared with
  the construct the paper's authors report the quote under (Cohen's kappa, top-2 hit rate,
  recall per construct), beside the blind expert's figures. Calibration: the confidence of every
  (quote, construct) decision against whether the authors gave that construct (reliability table,
  expected calibration error), and what the model suggests at its own thresholds (abstaining when
  no construct passes).
- Two real coders (``ci_claims``, ``fivewords``): every system learns from the first coder's codes on
  the training folds; on the test folds its suggested codes are scored (micro-F1 over the sets of
  codes per text) against the second coder and, where there is one, the gold, beside the first
  coder scored the same way: the human reference.
"""

from __future__ import annotations

import time

import numpy as np

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt, context_of
from eval.agreement import cohen_kappa
from eval.bench.datasets import NPT_CONSTRUCTS, NPT_EXPERT, TwoCoderData
from eval.bench.systems import CONTEXT_SYSTEMS, precode_backends, run_system
from models.encoder import load_encoder
from training.args import TrainingArguments
from training.recalibration import reliability


def npt_quotes(seed: list[Excerpt], codebook: Codebook, quotes: list[Excerpt], *,
               systems: list[str], args: TrainingArguments, log=print,
               variants: dict[str, tuple[str, list[Excerpt], TrainingArguments]] | None = None
               ) -> dict:
    """Every system learns from ``seed``; ``variants`` (label -> (system, training excerpts,
    arguments)) are further runs of a system, such as precode trained on another part of the seed
    corpus, reported in the same table."""
    truth = [NPT_CONSTRUCTS.index(q.codes[0]) for q in quotes]
    texts = [q.text for q in quotes]
    base = load_encoder()
    out = {"dataset": "npt_quotes_dev", "n_quotes": len(quotes), "n_train": len(seed),
           "expert": NPT_EXPERT, "constructs": NPT_CONSTRUCTS,
           "support": [truth.count(k) for k in range(4)], "systems": {}}
    runs = {name: (name, seed, args) for name in systems if name not in CONTEXT_SYSTEMS}
    runs.update(variants or {})
    for name, (system, train, run_args) in runs.items():
        log(f"npt_quotes_dev: training {name} on {len(train)} seed excerpts")
        t = time.perf_counter()
        if name == "precode":  # the same model read with each encoder backend
            both = precode_backends(train, codebook, texts, run_args)
            s, by_backend = both["auto"], {TORCH_ROW: both["torch"]}
        else:
            s = run_system(system, train, codebook, texts, args=run_args, base=base)
            by_backend = {}
        cols = [s.columns.index(c) for c in NPT_CONSTRUCTS]
        seconds = round(time.perf_counter() - t, 1)
        out["systems"][name] = _npt_entry(s.conf[:, cols], s.pred[:, cols], truth, len(train),
                                          seconds)
        for row, other in by_backend.items():
            out["systems"][row] = _npt_entry(other.conf[:, cols], other.pred[:, cols], truth,
                                             len(train), seconds)
        if name == "precode":
            conf, passed = recalibrated_folds(s.conf[:, cols], truth, n_folds=5, seed=args.seed)
            out["systems"][RECALIBRATED] = dict(
                _npt_entry(conf, passed, truth, len(train), seconds, rank=s.conf[:, cols]),
                recalibrated=True)
    return out


# precode's model read with the PyTorch encoder instead of the int8 ONNX one (the default on CPU)
TORCH_ROW = "precode, PyTorch encoder"

# ``precode calibrate`` judged the way a researcher would use it: on the quotes of the other folds
RECALIBRATED = "precode, calibrated on the other quotes (5 folds)"


def recalibrated_folds(conf: np.ndarray, truth: list[int], *, n_folds: int, seed: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Construct confidences mapped by ``training.recalibration`` fitted on the other folds'
    quotes, and the decisions at the thresholds chosen there (the default floor of 0.5)."""
    from models.scoring import recalibrated
    from training.recalibration import fit_recalibration

    onehot = np.zeros_like(conf, dtype=bool)
    onehot[np.arange(len(truth)), truth] = True
    judged = np.ones(len(NPT_CONSTRUCTS), dtype=bool)
    after = np.zeros_like(conf)
    passed = np.zeros_like(conf, dtype=bool)
    for train, test in folds_for(len(truth), n_folds, seed):
        r = fit_recalibration(conf[train], onehot[train], judged, NPT_CONSTRUCTS, {})
        after[test] = recalibrated(conf[test], r["a"], r["b"])
        passed[test] = after[test] >= np.array([r["thresholds"][c] for c in NPT_CONSTRUCTS])
    return after, passed


def _npt_entry(conf: np.ndarray, passed: np.ndarray, truth: list[int], n_train: int,
               seconds: float, rank: np.ndarray | None = None) -> dict:
    """Kappa, top-2 and recall from the order of ``rank`` (default ``conf``: a recalibration
    keeps the model's order but may tie it at the base rate); calibration from ``conf``."""
    rank = conf if rank is None else rank
    pred = rank.argmax(1)
    order = np.argsort(-rank, axis=1)
    onehot = np.zeros_like(conf, dtype=bool)
    onehot[np.arange(len(truth)), truth] = True
    table, ece = reliability(conf, onehot)
    suggested = passed.any(1)
    right = onehot[passed]
    return {
        "kappa": cohen_kappa(truth, pred.tolist()).value,
        "top2": float(np.mean([truth[i] in order[i, :2] for i in range(len(truth))])),
        "accuracy": float(np.mean(pred == np.array(truth))),
        "recall": [float(np.mean(pred[np.array(truth) == k] == k)) if k in truth else None
                   for k in range(4)],
        "ece": ece, "reliability": table,
        "suggested_share": float(suggested.mean()),
        "suggestion_precision": float(right.mean()) if right.size else None,
        "mean_top_confidence": float(conf.max(1).mean()),
        "n_train": n_train,
        "seconds": seconds,
    }


def folds_for(n: int, k: int, seed: int) -> list[tuple[list[int], list[int]]]:
    order = np.random.default_rng(seed).permutation(n)
    folds = [sorted(order[i::k].tolist()) for i in range(k)]
    return [([i for i in range(n) if i not in set(f)], f) for f in folds]


def set_f1(pred: list[set], truth: list[set]) -> dict:
    """Micro precision, recall and F1 over the code sets of texts."""
    tp = sum(len(p & t) for p, t in zip(pred, truth, strict=True))
    n_pred = sum(len(p) for p in pred)
    n_true = sum(len(t) for t in truth)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0
    return {"precision": precision, "recall": recall, "micro_f1": f1, "n": len(pred)}


def two_coders(name: str, data: TwoCoderData, *, systems: list[str], n_folds: int,
               args: TrainingArguments, single_label: bool, with_parents: bool,
               log=print) -> dict:
    """Learn from the first coder on training folds; score test folds against the second coder
    (texts the second coder saw) and the gold (where the data has one)."""
    n = len(data.excerpts)
    folds = folds_for(n, n_folds, args.seed)
    contexts = [context_of(ex) for ex in data.excerpts]
    if not any(contexts):
        systems = [s for s in systems if s not in CONTEXT_SYSTEMS]
    rows = [*systems, TORCH_ROW] if "precode" in systems else list(systems)
    predicted: dict[str, list[set]] = {s: [set() for _ in range(n)] for s in rows}
    seconds = dict.fromkeys(rows, 0.0)
    base = load_encoder()
    for k, (tr, te) in enumerate(folds):
        train = [data.excerpts[i] for i in tr]
        texts = [data.excerpts[i].text for i in te]
        test_contexts = [contexts[i] for i in te]
        for system in systems:
            log(f"{name}: fold {k + 1}/{n_folds}, {system} ({len(tr)} train, {len(te)} test)")
            t = time.perf_counter()
            if system == "precode":  # the same model read with each encoder backend
                both = precode_backends(train, data.codebook, texts, args,
                                        test_contexts=test_contexts)
                scored = {system: both["auto"], TORCH_ROW: both["torch"]}
            else:
                scored = {system: run_system(system, train, data.codebook, texts, args=args,
                                             base=base, single_label=single_label,
                                             test_contexts=test_contexts)}
            for row_name, s in scored.items():
                seconds[row_name] += time.perf_counter() - t
                keep = [j for j, c in enumerate(s.columns)
                        if with_parents or not data.codebook.children(c)]
                for row, i in enumerate(te):
                    predicted[row_name][i] = {s.columns[j] for j in keep if s.pred[row, j]}
    first = [set(ex.codes) for ex in data.excerpts]
    seen = [i for i in range(n) if data.second[i] is not None]
    references = {data.second_name: ([set(data.second[i]) for i in seen], seen)}
    if data.gold is not None:
        references["gold"] = ([set(g) for g in data.gold], list(range(n)))
    out = {"dataset": name, "n_texts": n, "n_folds": n_folds, "first": data.primary_name,
           "references": {}, "systems": rows,
           "seconds_per_fold": {s: seconds[s] / n_folds for s in rows}}
    for ref, (truth, units) in references.items():
        row = {"human": set_f1([first[i] for i in units], truth)}
        for system in rows:
            row[system] = set_f1([predicted[system][i] for i in units], truth)
        out["references"][ref] = row
    return out


def _f(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def render(results: list[dict]) -> list[str]:
    lines: list[str] = []
    for r in results:
        if r["dataset"] == "npt_quotes_dev":
            lines += _render_npt(r)
        else:
            lines += _render_two_coders(r)
    return lines


def _render_npt(r: dict) -> list[str]:
    short = ["coherence", "cogn. participation", "collective action", "reflexive monitoring"]
    lines = [f"## Real interview quotes: npt_quotes_dev ({r['n_quotes']} quotes)", "",
             f"Every system learns from the seed corpus ({r['n_train']} excerpts; a row named "
             "'seed ...' from those parts only) and never sees these quotes. The quote's "
             "construct is the one of the four with the highest confidence; the authors' "
             "construct is the reference (support: "
             + ", ".join(f"{s} {n}" for s, n in zip(short, r["support"], strict=True)) + ").",
             "Chance kappa is 0; a top-2 hit by chance is 0.50.", "",
             "| system | kappa | top-2 | accuracy | recall " + " / ".join(short)
             + " | ECE | suggests a construct for | precision of those | training s |",
             "|---|---|---|---|---|---|---|---|---|",
             f"| blind expert (reference) | {r['expert']['kappa']:.2f} | {r['expert']['top2']:.2f}"
             " | | | | | | |"]
    for name, s in r["systems"].items():
        lines.append(f"| {name} | {_f(s['kappa'])} | {_f(s['top2'])} | {_f(s['accuracy'])} | "
                     + " / ".join(_f(x) for x in s["recall"])
                     + f" | {_f(s['ece'])} | {s['suggested_share']:.0%} | "
                     f"{_f(s['suggestion_precision'])} | {s['seconds']:.0f} |")
    lines += _backend_note(r["systems"], "kappa", lambda e: e["kappa"])
    for name, title in (("precode", "precode's construct confidences"),
                        (RECALIBRATED, "the same confidences after `precode calibrate` on the "
                                       "other folds' quotes")):
        model = r["systems"].get(name)
        if not model:
            continue
        lines += ["", f"Reliability of {title} (each quote x construct decision; observed = "
                  "share where the authors gave that construct):", "",
                  "| confidence | decisions | mean confidence | observed |", "|---|---|---|---|"]
        for row in model["reliability"]:
            lines.append(f"| {row['bin']} | {row['n']} | {row['confidence']:.2f} | "
                         f"{row['observed']:.2f} |")
    lines.append("")
    return lines


def _render_two_coders(r: dict) -> list[str]:
    lines = [f"## Two real coders: {r['dataset']} ({r['n_texts']} texts, {r['n_folds']} folds)",
             "",
             f"Systems learn from {r['first']} on the training folds; micro-F1 over each text's "
             f"set of codes on the test folds. The first row scores {r['first']} the same way: "
             "the human reference.", ""]
    refs = list(r["references"])
    lines += ["| system | " + " | ".join(f"micro-F1 vs {x}" for x in refs)
              + " | precision / recall vs " + refs[0] + " | training s / fold |",
              "|---|" + "---|" * (len(refs) + 2)]
    for system in ["human", *r["systems"]]:
        cells = [_f(r["references"][x][system]["micro_f1"]) for x in refs]
        first = r["references"][refs[0]][system]
        label = f"{r['first']} (human reference)" if system == "human" else system
        secs = "" if system == "human" else f"{r['seconds_per_fold'][system]:.0f}"
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | {_f(first['precision'])} / {_f(first['recall'])} | {secs} |")
    lines += _backend_note({s: r["references"][refs[0]].get(s) for s in r["systems"]},
                           f"micro-F1 vs {refs[0]}", lambda e: e["micro_f1"])
    lines.append("")
    return lines


def _backend_note(entries: dict, what: str, value) -> list[str]:
    """One line: what the int8 ONNX encoder (precode's default on CPU) loses against reading the
    same model with PyTorch."""
    onnx, torch = entries.get("precode"), entries.get(TORCH_ROW)
    if not onnx or not torch:
        return []
    return ["", f"int8 ONNX encoder against PyTorch, same model: {what} "
            f"{value(onnx):.3f} against {value(torch):.3f} "
            f"(lost to int8: {value(torch) - value(onnx):+.3f})."]
