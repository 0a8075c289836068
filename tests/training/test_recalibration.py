"""``precode calibrate``: confidences mapped on a researcher's own coded excerpts.

A model trained on one set of authored excerpts is calibrated on others it never saw, once with
their real codes and once with codes dealt at random (a codebook the model cannot know). With
random codes it must abstain; with real codes it must keep suggesting, and its confidences must
be closer to what is observed than before.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from corpus.excerpts import write_excerpts
from models.suggester import Suggester
from training.args import TrainingArguments
from training.recalibration import recalibrate
from training.train import train_model

CONSTRUCTS = ["npt.coherence", "npt.cognitive_participation", "npt.collective_action",
              "npt.reflexive_monitoring"]


def _construct(book, code):
    while book[code].parent:
        code = book[code].parent
    return code


@pytest.fixture(scope="module")
def seed_split(npt_integrating):
    from corpus.seed_corpus import load_seed

    v1 = [e for e in load_seed(npt_integrating, parts=("v1",))
          if e.codes and _construct(npt_integrating, e.codes[0]) in CONSTRUCTS]
    v2 = [e for e in load_seed(npt_integrating, parts=("v2",))
          if len(e.codes) == 1 and _construct(npt_integrating, e.codes[0]) in CONSTRUCTS]
    rng = random.Random(0)
    rng.shuffle(v1)
    rng.shuffle(v2)
    # the researcher codes at construct level, as the published quotes are coded
    coded = [replace(e, codes=(_construct(npt_integrating, e.codes[0]),)) for e in v2[:160]]
    return v1[:240], coded


@pytest.fixture(scope="module")
def frozen_model(tmp_path_factory, seed_split, npt_integrating):
    train, _ = seed_split
    out = tmp_path_factory.mktemp("recal") / "model"
    return train_model(train, npt_integrating, out, args=TrainingArguments(epochs=0, seed=0),
                       progress=False, sources=["precode seed corpus (v1)"])


def _shuffled(coded, seed=1):
    codes = [e.codes for e in coded]
    random.Random(seed).shuffle(codes)
    return [replace(e, codes=c) for e, c in zip(coded, codes, strict=True)]


def test_codes_the_model_cannot_know_make_it_abstain(frozen_model, seed_split):
    _, coded = seed_split
    model = Suggester.load(frozen_model)
    new, report = recalibrate(model, _shuffled(coded))
    assert report.judged == CONSTRUCTS
    # before, the training data's calibration suggests freely; after, nothing passes
    assert report.before["suggestions"] > 20
    assert report.after["suggestions"] == 0
    assert report.after["ece"] < report.before["ece"]
    texts = [e.text for e in coded[:40]]
    assert all(not r.suggestions for r in new.suggest(texts))
    # the original model is unchanged
    assert any(r.suggestions for r in model.suggest(texts))


def test_codes_it_can_learn_keep_it_suggesting(frozen_model, seed_split, tmp_path):
    _, coded = seed_split
    model = Suggester.load(frozen_model)
    new, report = recalibrate(model, coded)
    assert report.after["suggestions"] > 10
    base_rate = 1 / len(CONSTRUCTS)
    assert report.after["precision"] > base_rate + 0.2
    assert report.after["ece"] < report.before["ece"] + 0.02
    # saved and loaded again, the mapping and thresholds hold, and the card says so
    path = new.save(tmp_path / "calibrated")
    again = Suggester.load(path)
    texts = [e.text for e in coded[:10]]
    assert [[(s.code, s.confidence) for s in r.suggestions] for r in again.suggest(texts)] == \
        [[(s.code, s.confidence) for s in r.suggestions] for r in new.suggest(texts)]
    card = (path / "model_card.md").read_text()
    assert "Calibrated on the researcher's own coded excerpts" in card
    assert f"on {report.n_excerpts} coded excerpts" in card


def test_cli_calibrate_writes_a_model_and_reports(frozen_model, seed_split, tmp_path):
    from service.cli import app

    _, coded = seed_split
    data = tmp_path / "mine.jsonl"
    write_excerpts(_shuffled(coded), data)
    out = tmp_path / "mine-model"
    result = CliRunner().invoke(app, ["calibrate", str(data), "--model", str(frozen_model),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ECE" in result.output and "abstains" in result.output
    thresholds = json.loads((out / "thresholds.json").read_text())
    assert thresholds["recalibration"]["n_excerpts"] == len(coded)
    assert min(thresholds["thresholds"].values()) >= 0.5


def test_cli_calibrate_refuses_too_few_or_training_excerpts(frozen_model, seed_split, tmp_path):
    from service.cli import app

    train, _ = seed_split
    data = tmp_path / "own.jsonl"
    write_excerpts(train[:30], data)  # the model's own exemplars
    result = CliRunner().invoke(app, ["calibrate", str(data), "--model", str(frozen_model),
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "own exemplars" in result.output and "own.jsonl" in result.output
    assert not (tmp_path / "x").exists()


def test_a_seed_model_cautions_about_real_speech_until_calibrated(frozen_model, seed_split,
                                                                  tmp_path):
    """Its card, the report of ``precode code`` and the command's own output say that its
    confidences were measured on authored excerpts and do not hold on real speech; once
    calibrated on a researcher's codings, they say what they were measured on instead."""
    from service.cli import app

    card = (frozen_model / "model_card.md").read_text()
    assert "## On real interview speech" in card and "no better than chance" in card
    transcript = tmp_path / "p01.txt"
    _, coded = seed_split
    transcript.write_text("\n\n".join(f"P1: {e.text}" for e in coded[:6]) + "\n")
    result = CliRunner().invoke(app, ["code", str(transcript), "--model", str(frozen_model),
                                      "--out", str(tmp_path / "p01.html")])
    assert result.exit_code == 0, result.output
    assert "On real interview speech" in result.output
    said = CliRunner().invoke(app, ["suggest", "--model", str(frozen_model),
                                    "--min-confidence", "0", coded[0].text])
    assert said.exit_code == 0 and "On real interview speech" in said.output
    page = (tmp_path / "p01.html").read_text()
    assert "On real interview speech" in page and "precode seed corpus (v1)" in page

    new, report = recalibrate(Suggester.load(frozen_model), coded, source="mine.jsonl")
    path = new.save(tmp_path / "calibrated")
    card = (path / "model_card.md").read_text()
    assert "On real interview speech" not in card
    result = CliRunner().invoke(app, ["code", str(transcript), "--model", str(path),
                                      "--out", str(tmp_path / "p01-calibrated.html")])
    assert result.exit_code == 0, result.output
    assert "On real interview speech" not in result.output
    page = (tmp_path / "p01-calibrated.html").read_text()
    assert "On real interview speech" not in page
    assert (f"{report.n_excerpts} excerpts coded by a researcher (<code>mine.jsonl</code>)"
            in page)


def _with_ids(coded, prefix="seg"):
    return [replace(e, id=f"{prefix}-{i}") for i, e in enumerate(coded)]


def test_refit_maps_confidences_on_reviewed_segments_out_of_fold(frozen_model, seed_split,
                                                                 npt_integrating, tmp_path):
    """A project's reviewed segments become exemplars of the refit and, scored out of fold, set
    its confidences: codes the model cannot know make it abstain; codes it can learn keep it
    suggesting."""
    from models.index import read_exemplars
    from training.recalibration import refit_recalibrated

    train, coded = seed_split
    reviewed = _with_ids(coded[:100])
    out, report = refit_recalibrated(frozen_model, train, _shuffled(reviewed), tmp_path / "v2",
                                     codebook=npt_integrating, folds=4)
    assert report is not None and report.n_excerpts == 100
    assert report.after["suggestions"] == 0
    model = Suggester.load(out)
    assert model.calibration["recalibration"]["n_excerpts"] == 100
    assert {e.id for e in read_exemplars(out)} >= {e.id for e in reviewed}
    assert all(not r.suggestions for r in model.suggest([e.text for e in coded[100:130]]))

    out, report = refit_recalibrated(frozen_model, train, reviewed, tmp_path / "v3",
                                     codebook=npt_integrating, folds=4)
    assert report.after["suggestions"] > 10
    assert report.after["precision"] > 1 / len(CONSTRUCTS) + 0.2
    model = Suggester.load(out)
    assert any(r.suggestions for r in model.suggest([e.text for e in coded[100:130]]))
    assert "reviewed segments, scored out of 4 folds" in (out / "model_card.md").read_text()


def test_refit_counts_rejections_and_skips_too_few(frozen_model, seed_split, npt_integrating,
                                                  tmp_path):
    from training.recalibration import refit_recalibrated

    train, coded = seed_split
    # every suggestion on these segments was rejected: they are usable negatives
    rejected_only = [replace(e, codes=()) for e in _with_ids(coded[:30], "rej")]
    reviewed = _with_ids(coded[30:60]) + rejected_only
    rejected = {e.id: ["npt.collective_action"] for e in rejected_only}
    _, report = refit_recalibrated(frozen_model, train, reviewed, tmp_path / "a",
                                   codebook=npt_integrating, rejected=rejected, folds=3)
    assert report.n_excerpts == 60 and report.n_left_out == 0
    _, report = refit_recalibrated(frozen_model, train, reviewed, tmp_path / "b",
                                   codebook=npt_integrating, folds=3)
    assert report.n_excerpts == 30 and report.n_left_out == 30
    # too few reviewed segments: a plain refit, no mapping
    out, report = refit_recalibrated(frozen_model, train, reviewed[:10], tmp_path / "c",
                                     codebook=npt_integrating)
    assert report is None
    assert "recalibration" not in Suggester.load(out).calibration
