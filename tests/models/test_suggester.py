"""The whole path on a tiny real model: train, save, load, suggest, evidence, thresholds, no code."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpus.errors import PrecodeInputError
from models.suggester import REQUIRED_FILES, Suggester

NEGOTIATING = "I told pharmacy we would cover their Saturday shift if they took our repeat scripts."


def test_model_directory_is_complete(tiny_model):
    for name in (*REQUIRED_FILES, "model_card.md"):
        assert (tiny_model / name).exists(), name
    manifest = json.loads((tiny_model / "precode.json").read_text())
    assert manifest["versions"]["sentence-transformers"] == "6.2.0"
    assert manifest["seed"] == 0 and manifest["n_pairs"] > 0
    assert "integrating.negotiating" in manifest["classes"]
    assert (tiny_model / "encoder" / "modules.json").exists()
    card = (tiny_model / "model_card.md").read_text()
    assert "Held-out results" in card and "integrating.negotiating" in card
    thresholds = json.loads((tiny_model / "thresholds.json").read_text())
    assert 0.0 <= thresholds["blend_weight"] <= 1.0
    # one threshold per learned code and per parent construct
    assert {"npt.reflexive_monitoring", "npt.reflexive_monitoring.systematization"} <= set(
        thresholds["thresholds"])


def test_suggestions_carry_label_confidence_and_evidence(tiny_suggester):
    [result] = tiny_suggester.suggest([NEGOTIATING], all_scores=True)
    scores = result.scores
    assert max(scores, key=scores.get) in ("integrating.negotiating",)
    for s in result.suggestions:
        assert 0.0 <= s.confidence <= 1.0 and s.confidence >= s.threshold
        assert s.label and s.definition
        sims = [e.similarity for e in s.evidence]
        assert sims == sorted(sims, reverse=True) and 1 <= len(sims) <= 3
        wanted = {s.code, *tiny_suggester.codebook.descendants(s.code)}
        assert all(wanted & set(e.codes) for e in s.evidence)
    confs = [s.confidence for s in result.suggestions]
    assert confs == sorted(confs, reverse=True)


def test_all_scores_cover_every_codebook_code_and_parents_roll_up(tiny_suggester):
    [result] = tiny_suggester.suggest(["After the audit we dropped the second visit."],
                                      all_scores=True)
    assert set(result.scores) == set(tiny_suggester.codebook.codes)
    rm = "npt.reflexive_monitoring"
    kids = [result.scores[f"{rm}.{k}"] for k in ("systematization", "reconfiguration")]
    assert result.scores[rm] >= max(kids) - 1e-6
    assert result.scores[rm] == pytest.approx(1 - np.prod([1 - k for k in kids]), abs=1e-4)


def test_no_code_outcome_for_small_talk(tiny_suggester):
    [result] = tiny_suggester.suggest(["My daughter has just started at university in Glasgow."])
    assert result.no_code and result.suggestions == []


def test_min_confidence_and_top_k_filter(tiny_suggester):
    [full] = tiny_suggester.suggest([NEGOTIATING], min_confidence=0.0)
    [none] = tiny_suggester.suggest([NEGOTIATING], min_confidence=1.0)
    assert none.no_code
    [one] = tiny_suggester.suggest([NEGOTIATING], top_k=1)
    assert one.suggestions == full.suggestions[:1]


def test_reloading_in_another_process_gives_identical_suggestions(tiny_model, tiny_suggester):
    texts = [NEGOTIATING, "We counted how many forms came back each month."]
    here = [[s.to_dict() for s in r.suggestions] for r in tiny_suggester.suggest(texts,
                                                                               all_scores=True)]
    here_scores = [r.scores for r in tiny_suggester.suggest(texts, all_scores=True)]
    code = (
        "import json, sys\n"
        "from models.suggester import Suggester\n"
        f"s = Suggester.load({str(tiny_model)!r})\n"
        f"r = s.suggest({texts!r}, all_scores=True)\n"
        "print(json.dumps([[x.to_dict() for x in y.suggestions] for y in r]))\n"
        "print(json.dumps([y.scores for y in r]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-2]) == here
    assert json.loads(lines[-1]) == here_scores


def test_added_exemplar_is_evidence_at_once(tiny_model):
    fresh = Suggester.load(tiny_model)
    text = "We swapped our Monday theatre list with orthopaedics for their spare clinic room."
    fresh.add_exemplars([text], [["integrating.negotiating"]], ids=["review-1"])
    [result] = fresh.suggest([text], min_confidence=0.0, all_scores=True)
    code = max(("integrating.negotiating",), key=lambda c: result.scores[c])
    ev = fresh._suggestion(code, result.scores[code], 0.0, fresh.embed([text])[0], 3).evidence
    assert ev[0].id == "review-1" and ev[0].similarity == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(PrecodeInputError, match="unknown code"):
        fresh.add_exemplars(["x"], [["no.such.code"]])


def test_loading_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(PrecodeInputError, match="not a precode model directory"):
        Suggester.load(tmp_path)


def test_refit_keeps_the_encoder_and_learns_new_excerpts(tiny_model, tiny_excerpts, tmp_path):
    from corpus.excerpts import Excerpt
    from training.train import refit_model

    extra = [Excerpt(text=f"We handed the clinic list over to the practice nurse, week {i}.",
                     codes=("npt.collective_action.skill_set_workability",)) for i in range(4)]
    out = refit_model(tiny_model, tiny_excerpts + extra, tmp_path / "v2")
    old = Suggester.load(tiny_model)
    new = Suggester.load(out)
    assert "npt.collective_action.skill_set_workability" in new.classes_
    assert "npt.collective_action.skill_set_workability" not in old.classes_
    probe = ["We handed the rota to the nurses."]
    assert np.allclose(old.embed(probe), new.embed(probe))
    manifest = json.loads((out / "precode.json").read_text())
    assert manifest["n_pairs"] == 0 and manifest["n_excerpts"] == len(tiny_excerpts) + 4


def test_exemplar_index_switches_to_hnsw_and_reloads(tmp_path):
    from models.index import Exemplar, ExemplarIndex

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = ExemplarIndex(16, exact_max=10)
    index.add(vectors[:8], [Exemplar(text=f"t{i}", codes=("a",)) for i in range(8)])
    assert index.kind == "flat"
    index.add(vectors[8:], [Exemplar(text=f"t{i}", codes=("a",)) for i in range(8, 40)])
    assert index.kind == "hnsw"
    sims, ids = index.search(vectors[:5], 1)
    assert ids[:, 0].tolist() == [0, 1, 2, 3, 4]
    index.save(tmp_path)
    again = ExemplarIndex.load(tmp_path)
    assert again.kind == "hnsw" and len(again) == 40
    assert again.search(vectors[:5], 1)[1][:, 0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("exact_max", [100, 10], ids=["flat", "hnsw"])
def test_removed_exemplars_are_never_found_again(exact_max):
    from models.index import Exemplar, ExemplarIndex

    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = ExemplarIndex(16, exact_max=exact_max)
    index.add(vectors, [Exemplar(text=f"t{i}", codes=("a",), id=f"e{i}") for i in range(40)])
    twin = index.copy()
    assert index.remove({"e3", "e7", "not-there"}) == 2
    assert len(index) == 38 and {"e3", "e7"}.isdisjoint(ex.id for ex in index.exemplars)
    _, ids = index.search(vectors[[3, 7, 9]], 1)
    found = [index.exemplars[i].id for i in ids[:, 0]]
    assert found[2] == "e9" and "e3" not in found and "e7" not in found
    assert twin.search(vectors[[3]], 1)[1][0, 0] == 3  # the copy keeps them
    assert index.remove({"e3"}) == 0


def test_removed_exemplar_stops_being_evidence(tiny_model):
    fresh = Suggester.load(tiny_model)
    text = "We swapped our Monday theatre list with orthopaedics for their spare clinic room."
    fresh.add_exemplars([text], [["integrating.negotiating"]], ids=["review-1"])
    emb = fresh.embed([text])[0]
    before = fresh._suggestion("integrating.negotiating", 0.9, 0.5, emb, 3).evidence
    assert before[0].id == "review-1"
    assert fresh.remove_exemplars({"review-1"}) == 1
    after = fresh._suggestion("integrating.negotiating", 0.9, 0.5, emb, 3).evidence
    assert "review-1" not in {e.id for e in after} and after


def test_save_writes_a_whole_model_that_loads_with_its_exemplars(tiny_model, tmp_path):
    """Saving a grown copy: the new directory loads and suggests with the added exemplar; the
    original model and the copy it was made from keep their own exemplars; a leftover half-written
    ``.part`` from an interrupted save does not get in the way; saving again replaces the folder."""
    from models.suggester import is_model_dir, read_manifest

    base = Suggester.load(tiny_model)
    grown = base.copy()
    grown.add_exemplars([NEGOTIATING], [["integrating.negotiating"]], ids=["mine-1"])
    assert len(grown.index) == len(base.index) + 1
    out = tmp_path / "grown"
    (tmp_path / "grown.part").mkdir()
    (tmp_path / "grown.part" / "junk").write_text("half a save")
    grown.save(out)
    assert is_model_dir(out) and not (tmp_path / "grown.part").exists()
    assert read_manifest(out)["classes"] == read_manifest(tiny_model)["classes"]
    assert (out / "model_card.md").read_text().startswith("# precode model card")
    again = Suggester.load(out)
    [result] = again.suggest([NEGOTIATING], min_confidence=0.0, top_k=1)
    assert result.suggestions[0].evidence[0].id == "mine-1"
    assert "mine-1" not in {e.id for e in Suggester.load(tiny_model).index.exemplars}
    grown.save(out)  # over an existing model
    assert not (out / "junk").exists() and is_model_dir(out)
    with pytest.raises(PrecodeInputError, match="missing precode.json"):
        read_manifest(tmp_path)


def test_a_suggestion_as_a_dict_is_the_whole_dataclass(tiny_suggester):
    from dataclasses import asdict

    results = tiny_suggester.suggest(["We were never told why the audit changed, so we stopped.",
                                      "Everyone on the ward agreed it was worth doing."],
                                     min_confidence=0.0)
    suggestions = [s for r in results for s in r.suggestions]
    assert suggestions and any(s.evidence for s in suggestions)
    for s in suggestions:
        assert s.to_dict() == asdict(s)
        assert list(s.to_dict()) == list(asdict(s))
