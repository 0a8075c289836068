"""The real-data quality benchmark: its datasets read as published, its scores computed as a
methodologist would, and its tables put the human reference beside the systems."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.codebook import Code, Codebook
from corpus.excerpts import Excerpt
from eval.bench import real_data
from eval.bench.datasets import (
    NPT_CONSTRUCTS,
    TwoCoderData,
    load_ci_claims_coders,
    load_fivewords,
    load_npt_quotes,
)
from training.args import TrainingArguments


def test_set_f1_counts_every_code_of_every_text():
    pred = [{"a"}, {"a", "b"}, set()]
    truth = [{"a"}, {"b", "c"}, {"c"}]
    out = real_data.set_f1(pred, truth)
    # tp = 2 (a, b); 3 predicted, 4 true
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(2 / 4)
    assert out["micro_f1"] == pytest.approx(4 / 7)


def test_reliability_table_and_ece():
    conf = np.array([0.05, 0.15, 0.95, 0.92, 0.55])
    hit = np.array([0, 0, 1, 0, 1])
    rows, ece = real_data.reliability(conf, hit)
    assert [r["bin"] for r in rows] == ["0.0-0.1", "0.1-0.2", "0.5-0.6", "0.9-1.0"]
    top = rows[-1]
    assert top["n"] == 2 and top["observed"] == 0.5 and top["confidence"] == pytest.approx(0.935)
    expected = (0.05 + 0.15 + 2 * abs(0.935 - 0.5) + 0.45) / 5
    assert ece == pytest.approx(expected)


def _toy_two_coders() -> TwoCoderData:
    book = Codebook.from_codes([Code(id="money", label="Money", definition="Money."),
                                Code(id="time", label="Time", definition="Time.")],
                               id="toy")
    money = ["it costs too much", "the price went up again", "we cannot pay the fees",
             "the budget is empty", "money is short this year", "fees and costs rise"]
    time = ["there are not enough hours", "the clinic runs late", "we wait all day",
            "no time for lunch", "the queue takes hours", "late again and rushed"]
    excerpts, second = [], []
    for i, (m, t) in enumerate(zip(money, time, strict=True)):
        excerpts += [Excerpt(text=m, codes=("money",), id=f"m{i}"),
                     Excerpt(text=t, codes=("time",), id=f"t{i}")]
        # the second coder agrees except on one text, and did not see two others
        second += [("money",) if i != 0 else ("time",), ("time",) if i != 5 else None]
    return TwoCoderData(excerpts=excerpts, second=second, gold=None, codebook=book,
                        primary_name="coder A", second_name="coder B")


def test_two_coders_scores_systems_beside_the_human_reference():
    data = _toy_two_coders()
    out = real_data.two_coders("toy", data, systems=["tfidf_logreg"], n_folds=2,
                               args=TrainingArguments(seed=0), single_label=True,
                               with_parents=False, log=lambda *_: None)
    ref = out["references"]["coder B"]
    # coder A against coder B on the 11 texts B saw: 10 of 11 codes agree
    assert ref["human"]["n"] == 11
    assert ref["human"]["micro_f1"] == pytest.approx(10 / 11)
    assert 0.0 <= ref["tfidf_logreg"]["micro_f1"] <= 1.0
    table = "\n".join(real_data.render([out]))
    assert "coder A (human reference)" in table and "tfidf_logreg" in table


def test_precode_is_scored_with_each_encoder_backend_from_one_training():
    from tests.conftest import TINY_ARGS

    data = _toy_two_coders()
    out = real_data.two_coders("toy", data, systems=["precode"], n_folds=2,
                               args=TrainingArguments(**TINY_ARGS), single_label=True,
                               with_parents=False, log=lambda *_: None)
    ref = out["references"]["coder B"]
    assert out["systems"] == ["precode", real_data.TORCH_ROW]
    for row in out["systems"]:
        assert 0.0 <= ref[row]["micro_f1"] <= 1.0 and ref[row]["n"] == 11
    table = "\n".join(real_data.render([out]))
    loss = ref[real_data.TORCH_ROW]["micro_f1"] - ref["precode"]["micro_f1"]
    assert f"| {real_data.TORCH_ROW} |" in table
    assert f"(lost to int8: {loss:+.3f})" in table


def test_npt_quotes_table_has_the_expert_and_each_construct(npt_integrating):
    seed = [Excerpt(text=t, codes=(c,)) for t, c in [
        ("we never understood what the new form was for", "npt.coherence.differentiation"),
        ("nobody could tell me how it differs from the old check", "npt.coherence.differentiation"),
        ("she pushed it at every meeting until we started", "npt.cognitive_participation.initiation"),
        ("the lead kept driving it forward every week", "npt.cognitive_participation.initiation"),
        ("the form takes ten minutes in clinic", "npt.collective_action.interactional_workability"),
        ("doing it with patients slows the consultation", "npt.collective_action.interactional_workability"),
        ("we audit the numbers every month", "npt.reflexive_monitoring.systematization"),
        ("the monthly figures tell us how it is going", "npt.reflexive_monitoring.systematization"),
    ]]
    quotes = [Excerpt(text="what was that form even for", codes=("npt.coherence",)),
              Excerpt(text="we count how many come back each month",
                      codes=("npt.reflexive_monitoring",))]
    out = real_data.npt_quotes(seed, npt_integrating, quotes, systems=["tfidf_logreg"],
                               args=TrainingArguments(seed=0, min_examples=2),
                               log=lambda *_: None)
    s = out["systems"]["tfidf_logreg"]
    assert len(s["recall"]) == 4 and s["recall"][1] is None and 0.0 <= s["top2"] <= 1.0
    assert sum(r["n"] for r in s["reliability"]) == 2 * 4  # every quote x construct decision
    table = "\n".join(real_data.render([out]))
    assert "blind expert (reference) | 0.25 | 0.78" in table


def test_reference_datasets_read_as_published(reference_data):
    quotes = load_npt_quotes(reference_data / "npt_quotes_dev")
    assert len(quotes) == 45
    assert {q.codes[0] for q in quotes} == set(NPT_CONSTRUCTS)

    ci = load_ci_claims_coders(reference_data / "ci_claims")
    assert len(ci.excerpts) == 113 and all(s is not None for s in ci.second)
    agree = sum(ex.codes == s for ex, s in zip(ci.excerpts, ci.second, strict=True))
    assert agree == 107  # the two annotators disagree on 6 claims

    five = load_fivewords(reference_data / "fivewords_two_coder")
    assert len(five.excerpts) == 1282
    assert sum(s is not None for s in five.second) == 761
    # hierarchical codes: a->b is sub-code b of a
    assert five.codebook["same.variation"].parent == "same"


def test_setfit_baseline_trains_and_leaves_nothing_behind(tmp_path, monkeypatch):
    """SetFit (same base encoder, its default recipe) runs offline on a tiny two-coder set and
    writes no checkpoints into the working directory."""
    monkeypatch.chdir(tmp_path)
    data = _toy_two_coders()
    out = real_data.two_coders("toy", data, systems=["setfit"], n_folds=2,
                               args=TrainingArguments(seed=0, pairs_per_excerpt=2),
                               single_label=True, with_parents=False, log=lambda *_: None)
    assert 0.0 <= out["references"]["coder B"]["setfit"]["micro_f1"] <= 1.0
    assert list(tmp_path.iterdir()) == []


def test_confidences_that_know_nothing_are_mapped_to_abstention():
    """``precode calibrate`` as the benchmark judges it: fitted on the other folds, a model whose
    construct confidences are unrelated to the truth is mapped to about the base rate and
    suggests nothing, while one that ranks the truth first keeps suggesting it."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 200).tolist()
    noise = rng.dirichlet(np.ones(4) * 0.5, 200)  # confident, and unrelated to the truth
    _, before = real_data.reliability(noise, np.eye(4, dtype=bool)[truth])
    conf, passed = real_data.recalibrated_folds(noise, truth, n_folds=5, seed=0)
    _, after = real_data.reliability(conf, np.eye(4, dtype=bool)[truth])
    assert not passed.any()
    assert after < before / 2
    assert abs(conf.mean() - 0.25) < 0.05
    good = noise.copy()
    good[np.arange(200), truth] += 1.0
    good /= good.sum(1, keepdims=True)
    conf, passed = real_data.recalibrated_folds(good, truth, n_folds=5, seed=0)
    hits = np.eye(4, dtype=bool)[truth][passed]
    assert passed.any(1).mean() > 0.5 and hits.mean() > 0.8
