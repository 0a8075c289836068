"""The systems the quality benchmark compares on real data, each trained on coded excerpts and
asked for a calibrated confidence per code for new texts.

- ``precode``: the shipped training (``training.train_model`` with the default arguments) and the
  ``Suggester`` that loads its model directory: exactly what a user gets.
- ``frozen_encoder_logreg``: the base encoder's embeddings, one logistic regression per code.
- ``frozen_encoder_logreg_code_texts``: the same, its head also learning from the codebook's own
  texts as precode's heads do (``training.code_texts``): how much of precode's lead they make.
- ``frozen_encoder_logreg_context``: frozen encoder + logistic regression reading each text with
  its context (the question it answers) as precode does; only where the data has contexts. The
  other baselines read the text alone, as their libraries do.
- ``tfidf_logreg``: TF-IDF word and bigram features, one logistic regression per code.
- ``setfit``: the ``setfit`` library's documented default recipe on the same base encoder
  (contrastive pairs by oversampling, CosineSimilarityLoss, one epoch, batch 16, body learning
  rate 2e-5, logistic head; one-vs-rest for multi-label data), stopped after as many pairs as
  precode's fine-tuning draws from the same excerpts, so that both get the same CPU time.
- ``setfit_default``: the same recipe with its full default sampling (every pair its
  oversampling draws, one epoch), whatever CPU time that takes; run where that is feasible.
- ``definition_zero_shot``: cosine similarity to each code's definition, include note and
  examples, with the base encoder (only where the codebook defines its codes).

The last three decide thresholds the way precode does (Platt mapping and per-code thresholds on a
held-out share of the training data); SetFit keeps its own decision rule (probability 0.5, or the
most probable class for single-label data).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace

import numpy as np

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt, context_of, multi_hot, with_context
from models.encoder import default_base_model, encode, load_encoder
from models.head import MultiLabelHead
from models.index import Exemplar, ExemplarIndex
from models.lexical import LexicalHead
from models.scoring import blend, neighbour_vote, platt, rollup
from models.suggester import Suggester
from training.args import TrainingArguments
from training.calibration import (
    HeadExtra,
    calibrate,
    choose_classes,
    heldout_scores,
    split_heldout,
)
from training.code_texts import classes_with_code_texts, head_extra
from training.train import train_model

SYSTEMS = ["precode", "setfit", "frozen_encoder_logreg", "frozen_encoder_logreg_code_texts",
           "frozen_encoder_logreg_context", "tfidf_logreg", "definition_zero_shot"]
# systems that differ from another only where the texts have contexts
CONTEXT_SYSTEMS = ["frozen_encoder_logreg_context"]
# run only when asked for (``--system``): what they cost on 2 cores
OPTIONAL_SYSTEMS = ["setfit_default"]


@dataclass
class Scores:
    """Confidences for the test texts: ``conf`` (texts x ``columns``, parents rolled up) and the
    0/1 decisions ``pred``."""

    conf: np.ndarray
    columns: list[str]
    pred: np.ndarray


def run_system(name: str, train: list[Excerpt], codebook: Codebook, test_texts: list[str], *,
               args: TrainingArguments, base=None, single_label: bool = False,
               test_contexts: list[str | None] | None = None) -> Scores:
    """``test_contexts``: the question each test text answers, for the systems that read it."""
    if name == "precode":
        return _precode(train, codebook, test_texts, args, test_contexts)
    if name in ("setfit", "setfit_default"):
        return _setfit(train, codebook, test_texts, args, single_label=single_label,
                       matched_budget=name == "setfit")
    base = base if base is not None else load_encoder()
    classes, _ = choose_classes(train, codebook, args.min_examples)
    head_only = replace(args, blend_grid=(1.0,), lexical=False)
    if name == "frozen_encoder_logreg":
        a = encode(base, [e.text for e in train])
        b = encode(base, test_texts)
        return _fitted_head(a, b, train, classes, codebook, head_only)
    if name == "frozen_encoder_logreg_code_texts":
        classes, texts = classes_with_code_texts(train, codebook, args)
        a = encode(base, [e.text for e in train])
        b = encode(base, test_texts)
        extra = head_extra(texts, encode(base, [e.text for e in texts]), classes, args)
        return _fitted_head(a, b, train, classes, codebook, head_only, extra)
    if name == "frozen_encoder_logreg_context":
        contexts = test_contexts or [None] * len(test_texts)
        a = encode(base, [with_context(e.text, context_of(e)) for e in train])
        b = encode(base, [with_context(t, c) for t, c in zip(test_texts, contexts, strict=True)])
        return _fitted_head(a, b, train, classes, codebook, head_only)
    if name == "tfidf_logreg":
        a, b = tfidf_features([e.text for e in train], test_texts)
        return _fitted_head(a, b, train, classes, codebook, head_only)
    if name == "definition_zero_shot":
        return _zero_shot(base, train, classes, codebook, test_texts, head_only)
    raise ValueError(f"unknown system {name!r}")


def _decide(conf: np.ndarray, columns: list[str], thresholds: dict) -> Scores:
    return Scores(conf=conf, columns=columns,
                  pred=conf >= np.array([thresholds.get(c, 0.5) for c in columns]))


def _precode(train, codebook, test_texts, args, test_contexts=None) -> Scores:
    return precode_backends(train, codebook, test_texts, args, backends=("auto",),
                            test_contexts=test_contexts)["auto"]


def precode_backends(train: list[Excerpt], codebook: Codebook, test_texts: list[str],
                     args: TrainingArguments, backends=("auto", "torch"),
                     test_contexts: list[str | None] | None = None) -> dict[str, Scores]:
    """precode trained once, its model directory read with each encoder backend (``auto`` is
    what a user gets: the int8 ONNX encoder on CPU)."""
    out = {}
    contexts = test_contexts or [None] * len(test_texts)
    with tempfile.TemporaryDirectory(prefix="precode-bench-") as tmp:
        path = train_model(train, codebook, f"{tmp}/model", args=args, progress=False)
        for backend in backends:
            model = Suggester.load(path, backend=backend)
            texts = [model.model_text(t, c) for t, c in zip(test_texts, contexts, strict=True)]
            conf, columns, _, _ = model.confidences(model.embed(texts), texts)
            out[backend] = _decide(conf, columns, model.calibration["thresholds"])
    return out


def fit_predict(f_train: np.ndarray, f_test: np.ndarray, train: list[Excerpt],
                classes: list[str], codebook: Codebook, args: TrainingArguments,
                test_texts: list[str] | None = None, extra: HeadExtra | None = None):
    """Calibrate on a held-out share of the training texts, refit on all of them, score the test
    texts. Returns calibrated confidences (test x rolled-up columns), the columns, thresholds and
    the blend weights (encoder head, lexical head). ``extra`` teaches the encoder head too."""
    y = multi_hot(train, classes)
    extra = extra or HeadExtra.empty(f_train.shape[1], len(classes))
    fit, held = split_heldout(train, classes, args)
    p, v, lex = heldout_scores(f_train, y, fit, held, classes, train, args, extra)
    cal = calibrate(p, v, y[held], classes, codebook, args, lex)
    head = MultiLabelHead(C=args.head_C, random_state=args.seed).fit(
        np.vstack([f_train, extra.emb]), np.vstack([y, extra.y]), classes)
    index = ExemplarIndex(f_train.shape[1])
    index.add(f_train, [Exemplar(text=e.text, codes=e.codes) for e in train])
    sims, ids = index.search(f_test, args.k_vote)
    lex_test = None
    if cal["lexical_weight"]:
        lex_test = LexicalHead(C=args.head_C, random_state=args.seed).fit(
            [e.text for e in train] + extra.texts, np.vstack([y, extra.y]), classes
        ).predict_proba(test_texts)
    s = blend(head.predict_proba(f_test), neighbour_vote(sims, ids, y), cal["blend_weight"],
              lex_test, cal["lexical_weight"])
    conf, columns = rollup(platt(s, cal["platt"]["a"], cal["platt"]["b"]), classes, codebook)
    weights = (cal["blend_weight"], cal["lexical_weight"])
    return conf, columns, np.array([cal["thresholds"][c] for c in columns]), weights


def _fitted_head(f_train, f_test, train, classes, codebook, args, extra=None) -> Scores:
    conf, columns, thresholds, _ = fit_predict(f_train, f_test, train, classes, codebook, args,
                                               extra=extra)
    return Scores(conf=conf, columns=columns, pred=conf >= thresholds)


def code_texts(codebook: Codebook, classes: list[str]) -> list[str]:
    out = []
    for c in classes:
        code = codebook[c]
        out.append(" ".join([code.label + ".", code.definition, code.include, *code.examples]))
    return out


def zero_shot(e_train: np.ndarray, e_test: np.ndarray, code_emb: np.ndarray,
              train: list[Excerpt], classes: list[str], codebook: Codebook,
              args: TrainingArguments):
    """Similarity to each code's text, mapped to confidence and thresholded on the training texts."""
    y = multi_hot(train, classes)
    sims_train, sims_test = e_train @ code_emb.T, e_test @ code_emb.T
    cal = calibrate(sims_train, sims_train, y, classes, codebook,
                    replace(args, blend_grid=(1.0,), lexical=False))
    conf, columns = rollup(platt(sims_test, cal["platt"]["a"], cal["platt"]["b"]), classes,
                           codebook)
    return conf, columns, np.array([cal["thresholds"][c] for c in columns]), (1.0, 0.0)


def _zero_shot(base, train, classes, codebook, test_texts, args) -> Scores:
    conf, columns, thresholds, _ = zero_shot(
        encode(base, [e.text for e in train]), encode(base, test_texts),
        encode(base, code_texts(codebook, classes)), train, classes, codebook, args)
    return Scores(conf=conf, columns=columns, pred=conf >= thresholds)


def tfidf_features(train_texts: list[str], test_texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=8000, sublinear_tf=True)
    a = vec.fit_transform(train_texts).toarray().astype(np.float32)
    b = vec.transform(test_texts).toarray().astype(np.float32)
    return a, b


def _setfit(train, codebook, test_texts, args, *, single_label: bool,
            matched_budget: bool = True) -> Scores:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer
    from setfit import TrainingArguments as SetFitArguments

    classes, _ = choose_classes(train, codebook, args.min_examples)
    texts = [e.text for e in train]
    if single_label:
        labels = [classes.index(e.codes[0]) if e.codes and e.codes[0] in classes else len(classes)
                  for e in train]
        model = SetFitModel.from_pretrained(str(default_base_model()), local_files_only=True)
    else:
        labels = multi_hot(train, classes).astype(int).tolist()
        model = SetFitModel.from_pretrained(str(default_base_model()), local_files_only=True,
                                            multi_target_strategy="one-vs-rest")
    # the same number of pairs as precode's fine-tuning draws from these excerpts
    n_pairs = min(args.max_pairs, args.pairs_per_excerpt * len(train))
    with tempfile.TemporaryDirectory(prefix="precode-setfit-") as tmp:
        sargs = SetFitArguments(output_dir=tmp, save_strategy="no", batch_size=16, num_epochs=1,
                                seed=args.seed,
                                max_steps=max(1, n_pairs // 16) if matched_budget else -1,
                                show_progress_bar=False)
        trainer = Trainer(model=model, args=sargs,
                          train_dataset=Dataset.from_dict({"text": texts, "label": labels}))
        trainer.train()
    proba = np.asarray(model.predict_proba(test_texts), dtype=np.float64)
    if single_label:
        # columns follow the classes the head saw (the "no code" class last, when present)
        seen = sorted(set(labels))
        full = np.zeros((len(test_texts), len(classes) + 1))
        full[:, seen] = proba
        conf = full[:, : len(classes)]
        pred = np.zeros_like(conf, dtype=bool)
        best = full.argmax(1)
        for i, b in enumerate(best):
            if b < len(classes):
                pred[i, b] = True
    else:
        conf = proba
        pred = conf >= 0.5
    rolled, columns = rollup(conf, classes, codebook)
    rolled_pred, _ = rollup(pred.astype(np.float64), classes, codebook)
    return Scores(conf=rolled, columns=columns, pred=rolled_pred > 0.5)
