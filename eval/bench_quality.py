"""``precode bench quality``: the suggestion model against simpler systems, by cross-validation.

Systems, each deciding its thresholds the same way (Platt mapping and per-code thresholds chosen on
data held out from its training fold):

- ``definition_zero_shot``: cosine similarity between a text and each code's definition, include
  note and examples, with the base encoder; nothing learned from coded excerpts but the thresholds.
- ``tfidf_logreg``: TF-IDF word and bigram features and one logistic regression per code (what
  keyword and pattern autocoding in CAQDAS packages amounts to).
- ``frozen_encoder_logreg``: the base encoder's embeddings and the same head.
- ``finetuned_head``: the contrastively fine-tuned encoder and the head, without exemplars.
- ``full_blend``: the shipped model: fine-tuned encoder head, TF-IDF head and exemplar vote,
  blended with weights chosen on held-out data.

Seed corpus: folds hold out whole scenarios. ci_claims: seeded random folds.
Predictions from all test folds are pooled and scored once.

This benchmark trains models, so it is the one part of ``eval/`` that uses ``training/``.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt, multi_hot
from models.encoder import encode, load_encoder
from models.head import MultiLabelHead
from models.index import Exemplar, ExemplarIndex
from models.lexical import LexicalHead
from models.metrics import report
from models.scoring import blend, neighbour_vote, platt, rollup
from training.args import TrainingArguments
from training.finetune import fine_tune
from training.train import (
    calibrate,
    choose_classes,
    heldout_scores,
    plain_json,
    rolled_truth,
    split_heldout,
)

SYSTEMS = ["definition_zero_shot", "tfidf_logreg", "frozen_encoder_logreg", "finetuned_head",
           "full_blend"]


def random_folds(n: int, k: int, seed: int) -> list[tuple[list[int], list[int]]]:
    order = np.random.default_rng(seed).permutation(n)
    folds = [sorted(order[i::k].tolist()) for i in range(k)]
    return [([i for i in range(n) if i not in set(f)], f) for f in folds]


def code_texts(codebook: Codebook, classes: list[str]) -> list[str]:
    out = []
    for c in classes:
        code = codebook[c]
        out.append(" ".join([code.label + ".", code.definition, code.include, *code.examples]))
    return out


def fit_predict(f_train: np.ndarray, f_test: np.ndarray, train: list[Excerpt],
                classes: list[str], codebook: Codebook, args: TrainingArguments,
                test_texts: list[str] | None = None):
    """Calibrate on a held-out share of the training fold, refit on all of it, score the test
    fold. Returns calibrated confidences (test x rolled-up columns), the columns, thresholds and
    the blend weights."""
    y = multi_hot(train, classes)
    fit, held = split_heldout(train, classes, args)
    p, v, lex = heldout_scores(f_train, y, fit, held, classes, train, args)
    cal = calibrate(p, v, y[held], classes, codebook, args, lex)
    head = MultiLabelHead(C=args.head_C, random_state=args.seed).fit(f_train, y, classes)
    index = ExemplarIndex(f_train.shape[1])
    index.add(f_train, [Exemplar(text=e.text, codes=e.codes) for e in train])
    sims, ids = index.search(f_test, args.k_vote)
    lex_test = None
    if cal["lexical_weight"]:
        lex_test = LexicalHead(C=args.head_C, random_state=args.seed).fit(
            [e.text for e in train], y, classes).predict_proba(test_texts)
    s = blend(head.predict_proba(f_test), neighbour_vote(sims, ids, y), cal["blend_weight"],
              lex_test, cal["lexical_weight"])
    conf, columns = rollup(platt(s, cal["platt"]["a"], cal["platt"]["b"]), classes, codebook)
    weights = (cal["blend_weight"], cal["lexical_weight"])
    return conf, columns, np.array([cal["thresholds"][c] for c in columns]), weights


def zero_shot(e_train: np.ndarray, e_test: np.ndarray, code_emb: np.ndarray, train: list[Excerpt],
              classes: list[str], codebook: Codebook, args: TrainingArguments):
    y = multi_hot(train, classes)
    sims_train, sims_test = e_train @ code_emb.T, e_test @ code_emb.T
    cal = calibrate(sims_train, sims_train, y, classes, codebook,
                    replace(args, blend_grid=(1.0,), lexical=False))
    conf, columns = rollup(platt(sims_test, cal["platt"]["a"], cal["platt"]["b"]), classes,
                           codebook)
    return conf, columns, np.array([cal["thresholds"][c] for c in columns]), (1.0, 0.0)


def tfidf_features(train_texts: list[str], test_texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=8000, sublinear_tf=True)
    a = vec.fit_transform(train_texts).toarray().astype(np.float32)
    b = vec.transform(test_texts).toarray().astype(np.float32)
    return a, b


def run_dataset(name: str, excerpts: list[Excerpt], codebook: Codebook, folds, *,
                args: TrainingArguments, progress: bool = True, log=print) -> dict:
    classes, _ = choose_classes(excerpts, codebook, args.min_examples)
    texts = [e.text for e in excerpts]
    base = load_encoder()
    t0 = time.perf_counter()
    frozen = encode(base, texts)
    frozen_seconds = time.perf_counter() - t0
    code_emb = encode(base, code_texts(codebook, classes))
    n = len(excerpts)
    pooled: dict[str, dict] = {}
    seconds = {s: 0.0 for s in SYSTEMS}
    head_only = replace(args, blend_grid=(1.0,), lexical=False)
    weights = []
    for k, (tr, te) in enumerate(folds):
        log(f"{name}: fold {k + 1}/{len(folds)} ({len(tr)} train, {len(te)} test)")
        train = [excerpts[i] for i in tr]
        tr_a, te_a = np.array(tr), np.array(te)
        results = {}
        t = time.perf_counter()
        results["definition_zero_shot"] = zero_shot(frozen[tr_a], frozen[te_a], code_emb, train,
                                                    classes, codebook, args)
        seconds["definition_zero_shot"] += time.perf_counter() - t
        t = time.perf_counter()
        a, b = tfidf_features([texts[i] for i in tr], [texts[i] for i in te])
        results["tfidf_logreg"] = fit_predict(a, b, train, classes, codebook, head_only)
        seconds["tfidf_logreg"] += time.perf_counter() - t
        t = time.perf_counter()
        results["frozen_encoder_logreg"] = fit_predict(frozen[tr_a], frozen[te_a], train, classes,
                                                       codebook, head_only)
        seconds["frozen_encoder_logreg"] += time.perf_counter() - t + frozen_seconds * len(tr) / n
        t = time.perf_counter()
        model = copy.deepcopy(base)
        fit_idx, _ = split_heldout(train, classes, args)
        fine_tune(model, [train[i] for i in fit_idx], codebook, args, progress=progress)
        tuned = encode(model, texts)
        tune_seconds = time.perf_counter() - t
        t = time.perf_counter()
        results["finetuned_head"] = fit_predict(tuned[tr_a], tuned[te_a], train, classes,
                                                codebook, head_only)
        seconds["finetuned_head"] += time.perf_counter() - t + tune_seconds
        t = time.perf_counter()
        results["full_blend"] = fit_predict(tuned[tr_a], tuned[te_a], train, classes, codebook,
                                            args, [texts[i] for i in te])
        seconds["full_blend"] += time.perf_counter() - t + tune_seconds
        weights.append(results["full_blend"][3])
        for system, (conf, columns, thresholds, _) in results.items():
            slot = pooled.setdefault(system, {"conf": np.zeros((n, len(columns))),
                                              "pred": np.zeros((n, len(columns)), bool),
                                              "columns": columns})
            slot["conf"][te_a] = conf
            slot["pred"][te_a] = conf >= thresholds
    y = multi_hot(excerpts, classes)
    truth = rolled_truth(y, classes, codebook)
    roots = [c.id for c in codebook.roots()]
    out = {"dataset": name, "n_excerpts": n, "n_folds": len(folds), "classes": classes,
           "constructs": roots, "blend_weights": weights, "systems": {}}
    for system in SYSTEMS:
        slot = pooled[system]
        columns = slot["columns"]
        leaf = report(truth[:, : len(classes)], slot["pred"][:, : len(classes)], classes,
                      scores=slot["conf"][:, : len(classes)])
        pos = [columns.index(r) for r in roots if r in columns]
        construct = report(truth[:, pos], slot["pred"][:, pos], [columns[p] for p in pos],
                           scores=slot["conf"][:, pos])
        out["systems"][system] = {"codes": leaf, "constructs": construct,
                                  "train_seconds_per_fold": seconds[system] / len(folds)}
    return out


def _f(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def render_markdown(results: list[dict], *, machine: str, args: TrainingArguments) -> str:
    lines = ["# Suggestion quality", "",
             "Written by `precode bench quality`. Cross-validated: every figure comes from texts "
             "the system did not train on; predictions of all test folds are pooled and scored "
             "once. Thresholds of every system are chosen the same way, on data held out from "
             "its own training fold.", "",
             f"Machine: {machine}. Training arguments: `{json.dumps(args.to_dict())}`.", ""]
    for r in results:
        lines += [f"## {r['dataset']}", "",
                  f"{r['n_excerpts']} excerpts, {len(r['classes'])} learned codes, "
                  f"{len(r['constructs'])} top-level codes, {r['n_folds']} folds. Blend weights "
                  "(encoder head, TF-IDF head) chosen per fold: "
                  f"{', '.join(str(tuple(w)) for w in r['blend_weights'])}.",
                  "",
                  "| system | construct macro-F1 | construct kappa (mean) | code macro-F1 | "
                  "code kappa (mean) | top-2 accuracy | precision at threshold | "
                  "training s / fold |",
                  "|---|---|---|---|---|---|---|---|"]
        for system, s in r["systems"].items():
            c, k = s["constructs"], s["codes"]
            lines.append(f"| {system} | {_f(c['macro_f1'])} | {_f(c['mean_kappa'])} | "
                         f"{_f(k['macro_f1'])} | {_f(k['mean_kappa'])} | "
                         f"{_f(k.get('top2_accuracy'))} | {_f(k['precision'])} | "
                         f"{s['train_seconds_per_fold']:.0f} |")
        lines += ["", "Per top-level code (F1 / kappa):", "",
                  "| code | " + " | ".join(r["systems"]) + " |",
                  "|---|" + "---|" * len(r["systems"])]
        for code in r["constructs"]:
            cells = []
            for s in r["systems"].values():
                pc = s["constructs"]["per_code"].get(code)
                cells.append(f"{_f(pc['f1'])} / {_f(pc['kappa'])}" if pc else "n/a")
            lines.append(f"| {code} | " + " | ".join(cells) + " |")
        lines += ["", "Per learned code (F1):", "",
                  "| code | support | " + " | ".join(r["systems"]) + " |",
                  "|---|---|" + "---|" * len(r["systems"])]
        for code in r["classes"]:
            support = r["systems"]["full_blend"]["codes"]["per_code"][code]["support"]
            cells = [_f(s["codes"]["per_code"][code]["f1"]) for s in r["systems"].values()]
            lines.append(f"| {code} | {support} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def run(out_dir: Path, *, datasets=("seed", "ci_claims"), n_folds: int = 5,
        args: TrainingArguments | None = None, log=print, progress: bool = True) -> Path:
    import platform

    import torch

    from corpus.seed_corpus import load_seed, scenario_folds, seed_codebook
    from eval.datasets import load_ci_claims

    args = args or TrainingArguments()
    results = []
    if "seed" in datasets:
        book = seed_codebook()
        ex = load_seed(book)
        results.append(run_dataset("seed corpus (scenario-held-out folds)", ex, book,
                                   scenario_folds(ex, n_folds, seed=args.seed), args=args,
                                   log=log, progress=progress))
    if "ci_claims" in datasets:
        ex, book = load_ci_claims()
        results.append(run_dataset("ci_claims (random folds)", ex, book,
                                   random_folds(len(ex), n_folds, args.seed), args=args, log=log,
                                   progress=progress))
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = (f"{platform.machine()}, {torch.get_num_threads()} threads, "
               f"{'GPU' if torch.cuda.is_available() else 'CPU only'}")
    (out_dir / "quality.json").write_text(json.dumps(plain_json(results), indent=2))
    path = out_dir / "quality.md"
    path.write_text(render_markdown(results, machine=machine, args=args))
    return path
