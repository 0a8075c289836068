"""``precode bench quality``, secondary part: cross-validation on the authored seed corpus.

The real-data part, which leads the results, is ``eval/bench/real_data.py``.

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

Folds hold out whole scenarios.
Predictions from all test folds are pooled and scored once.

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
from eval.bench.systems import code_texts, fit_predict, tfidf_features, zero_shot
from models.encoder import encode, load_encoder
from models.metrics import report
from training.args import TrainingArguments
from training.calibration import choose_classes, rolled_truth, split_heldout
from training.finetune import fine_tune
from training.train import plain_json

SYSTEMS = ["definition_zero_shot", "tfidf_logreg", "frozen_encoder_logreg", "finetuned_head",
           "full_blend"]




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


def render_markdown(results: list[dict], *, machine: str, args: TrainingArguments,
                    real: list[str] | None = None) -> str:
    lines = ["# Suggestion quality", "",
             "Written by `precode bench quality`. Real data first: published material coded by "
             "real people, never trained on; each table puts the human reference beside the "
             "systems. Every figure comes from texts the system did not train on. The systems are "
             "described in `eval/bench/systems.py`; `setfit` is stopped after as many contrastive "
             "pairs as precode's fine-tuning draws (the same CPU budget), `setfit_default` draws "
             "every pair of its own default sampling, where a table has it (`--system "
             "setfit_default`; on ci_claims 481 steps a fold, about 9 minutes on 2 cores; on "
             "fivewords and the seed corpus hundreds of thousands of pairs, so never there). "
             "The row 'precode, PyTorch encoder' reads precode's model with PyTorch instead of "
             "the int8 ONNX encoder that is the default on CPU. precode's heads and fine-tuning "
             "also learn from the codebook's own text of each code in use (label, definition, "
             "include note, examples; `code_text_weight`); `frozen_encoder_logreg_code_texts` "
             "gives the frozen baseline the same texts. Where the texts have a context (the "
             "fivewords survey: each answer's question), precode reads each text with it, when "
             "it learns and when it suggests, as it does for a user's excerpts with a `context` "
             "column; the other baselines read the text alone, as their libraries do, and "
             "`frozen_encoder_logreg_context` is the frozen baseline reading the question too. "
             "Variants of the method tried on the real "
             "sets, kept or not, are at the end (`eval/bench/variants_tried.md`).", "",
             f"Machine: {machine}. Training arguments: `{json.dumps(args.to_dict())}`.", "",
             *(real or [])]
    if results:
        lines += ["## Authored seed corpus (secondary)", "",
                  "Cross-validated on the seed corpus itself, holding out whole scenarios: how well "
                  "the systems learn the authored style, not how they do on real speech. "
                  "Predictions of all test folds are pooled and scored once; thresholds of every "
                  "system are chosen on data held out from its own training fold.", ""]
    for r in results:
        if r.get("carried_over"):
            lines += ["Carried over from an earlier run of this benchmark, not rerun with the tables "
                      "above (`precode bench quality --dataset seed` reruns it).", ""]
        lines += [f"### {r['dataset']}", "",
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
    if VARIANTS_TRIED.is_file():
        lines += ["", VARIANTS_TRIED.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(lines)


# one-off runs of variants of the method on the real sets, each with its figures (kept by hand:
# a variant that lost is not rerun by the benchmark, but its result must not be lost)
VARIANTS_TRIED = Path(__file__).with_name("variants_tried.md")


REAL_DATASETS = ("npt_quotes_dev", "ci_claims", "fivewords")
# The seed corpus parts the shipped training is also measured on (npt_quotes_dev), beside the
# default parts, so that the choice of training data is made on real data.
SEED_PART_CHOICES = (("v1",), ("v2",), ("v1", "v2"))
DATASETS = (*REAL_DATASETS, "seed")


def run(out_dir: Path, *, datasets=DATASETS, n_folds: int = 5, args: TrainingArguments | None = None,
        systems: list[str] | None = None, log=print, progress: bool = True,
        keep_others: bool = False) -> Path:
    """Real data first (each table with its human reference), then the authored seed corpus.

    ``keep_others`` keeps the results of datasets not rerun from an earlier ``quality.json`` in
    ``out_dir`` (each table says how it was made), so one dataset can be rerun alone."""
    import platform

    import torch

    from corpus.seed_corpus import DEFAULT_PARTS, load_seed, scenario_folds, seed_codebook
    from eval.bench import real_data
    from eval.bench.datasets import load_ci_claims_coders, load_fivewords, load_npt_quotes
    from eval.bench.systems import SYSTEMS

    args = args or TrainingArguments()
    systems = list(systems or SYSTEMS)
    real, results = [], []
    if "npt_quotes_dev" in datasets:
        book = seed_codebook()
        variants = {}
        if "precode" in systems:  # the shipped training on each choice of seed corpus parts
            for parts in SEED_PART_CHOICES:
                if tuple(parts) != tuple(DEFAULT_PARTS):
                    variants[f"precode, seed {'+'.join(parts)}"] = (
                        "precode", load_seed(book, parts=parts), args)
        # SetFit's full default sampling on 1,806 seed excerpts: millions of pairs
        real.append(real_data.npt_quotes(load_seed(book), book, load_npt_quotes(),
                                         systems=[s for s in systems if s != "setfit_default"],
                                         args=args, log=log,
                                         variants=variants))
    learnt = [s for s in systems if s != "definition_zero_shot"]  # codes named, not defined
    if "ci_claims" in datasets:
        real.append(real_data.two_coders("ci_claims", load_ci_claims_coders(), systems=learnt,
                                         n_folds=n_folds, args=args, single_label=True,
                                         with_parents=False, log=log))
    if "fivewords" in datasets:
        # SetFit's full default sampling draws hundreds of thousands of pairs from 850 answers:
        # days of CPU here, so only its budget-matched run takes part
        feasible = [s for s in learnt if s != "setfit_default"]
        real.append(real_data.two_coders("fivewords", load_fivewords(), systems=feasible,
                                         n_folds=min(n_folds, 3), args=args, single_label=False,
                                         with_parents=True, log=log))
    if "seed" in datasets:
        book = seed_codebook()
        ex = load_seed(book)
        results.append(run_dataset("seed corpus (scenario-held-out folds)", ex, book,
                                   scenario_folds(ex, n_folds, seed=args.seed), args=args,
                                   log=log, progress=progress))
    out_dir.mkdir(parents=True, exist_ok=True)
    if keep_others and (out_dir / "quality.json").exists():
        earlier = json.loads((out_dir / "quality.json").read_text())
        if isinstance(earlier, list):  # written before the real-data tables: seed results only
            earlier = {"real": [], "seed": earlier}
        if isinstance(earlier, dict):
            rerun = {r["dataset"] for r in real}
            real = [r for r in earlier.get("real", []) if r["dataset"] not in rerun] + real
            real.sort(key=lambda r: REAL_DATASETS.index(r["dataset"]))
            if not results:
                results = [dict(r, carried_over=True) for r in earlier.get("seed", [])
                           if r["dataset"].startswith("seed")]
    machine = (f"{platform.machine()}, {torch.get_num_threads()} threads, "
               f"{'GPU' if torch.cuda.is_available() else 'CPU only'}")
    (out_dir / "quality.json").write_text(json.dumps(plain_json({"real": real, "seed": results}),
                                                     indent=2))
    path = out_dir / "quality.md"
    path.write_text(render_markdown(results, machine=machine, args=args,
                                    real=real_data.render(real)))
    return path


if __name__ == "__main__":
    print(run(Path(__file__).resolve().parents[1] / "results"))
