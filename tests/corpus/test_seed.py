"""The seed corpus meets its data card: schema, balance, diversity, no duplicates, no theory words."""

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from corpus.seed_corpus import THEORY_RE, load_seed, scenario_folds, seed_path

ROLES = {"interviewer", "doctor", "nurse", "manager", "allied_health_professional", "pharmacist",
         "receptionist", "commissioner", "ngo_partner", "community_health_worker", "patient",
         "carer"}
SETTINGS = {"primary_care", "hospital", "community_rehabilitation", "mental_health", "pharmacy",
            "care_home", "screening_programme", "digital_remote_care",
            "district_health_management", "community_services", "sexual_health"}


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in seed_path().read_text(encoding="utf-8").splitlines()]


def test_schema(rows):
    keys = {"id", "text", "codes", "speaker_role", "setting", "intervention", "scenario"}
    for r in rows:
        assert set(r) == keys, r["id"]
        assert isinstance(r["codes"], list) and r["text"].strip()
        assert r["speaker_role"] in ROLES and r["setting"] in SETTINGS, r["id"]
        if r["speaker_role"] == "interviewer":
            assert r["codes"] == [], r["id"]
    assert len({r["id"] for r in rows}) == len(rows)


def test_every_code_is_a_leaf_of_the_codebooks(rows, npt_integrating):
    leaves = {c.id for c in npt_integrating.leaves()}
    assert {c for r in rows for c in r["codes"]} == leaves


def test_size_and_balance(rows, npt_integrating):
    counts = Counter(c for r in rows for c in r["codes"])
    for code in npt_integrating.leaves():
        assert counts[code.id] >= 60, code.id
    coded = [r for r in rows if r["codes"]]
    assert len(rows) - len(coded) >= 400
    assert sum(len(r["codes"]) > 1 for r in coded) >= 0.15 * len(coded)
    assert 1600 <= len(rows) <= 2000


def test_diversity(rows):
    scenarios = {r["scenario"] for r in rows}
    assert len(scenarios) >= 20
    assert {r["setting"] for r in rows} == SETTINGS
    assert ROLES <= {r["speaker_role"] for r in rows}


def test_spoken_length(rows):
    for r in rows:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", r["text"].strip()) if s]
        assert 1 <= len(sentences) <= 7 and len(r["text"]) <= 900, r["id"]


def test_no_theory_vocabulary(rows):
    hits = [(r["id"], m.group(0)) for r in rows if (m := THEORY_RE.search(r["text"]))]
    assert hits == []
    assert THEORY_RE.search("they never discussed the Coherence of it")
    assert THEORY_RE.search("we were negotiating all week")


def test_no_exact_duplicates(rows):
    texts = Counter(" ".join(r["text"].lower().split()) for r in rows)
    assert [t for t, n in texts.items() if n > 1] == []


def test_no_near_duplicates_under_the_base_encoder(rows):
    from models.encoder import encode, load_encoder

    emb = encode(load_encoder(), [r["text"] for r in rows], batch_size=128)
    sims = emb @ emb.T
    np.fill_diagonal(sims, 0.0)
    i, j = np.where(np.triu(sims) > 0.95)
    assert [(rows[a]["id"], rows[b]["id"]) for a, b in zip(i, j, strict=True)] == []


def check_card_tables(card: str, rows: list[dict]) -> None:
    """The data card's tables give each code's, scenario's and speaker role's count in ``rows``."""
    for code, n in Counter(c for r in rows for c in r["codes"]).items():
        assert f"| `{code}` | {n} |" in card, code
    for scenario, n in Counter(r["scenario"] for r in rows).items():
        assert re.search(rf"\| `{scenario}` \|.*\| {n} \|", card), scenario
    for role, n in Counter(r["speaker_role"] for r in rows).items():
        assert f"| {role} | {n} |" in card, role


def test_data_card_counts_match_the_data(rows):
    card = (Path(seed_path()).parent / "README.md").read_text(encoding="utf-8")
    check_card_tables(card, rows)
    assert f"{len(rows):,} excerpts" in card


def test_scenario_folds_hold_out_whole_scenarios():
    excerpts = load_seed()
    folds = scenario_folds(excerpts, 5, seed=0)
    seen_test = set()
    for train, test in folds:
        train_s = {excerpts[i].meta["scenario"] for i in train}
        test_s = {excerpts[i].meta["scenario"] for i in test}
        assert not train_s & test_s
        assert not seen_test & set(test)
        seen_test |= set(test)
    assert seen_test == set(range(len(excerpts)))
    assert folds == scenario_folds(excerpts, 5, seed=0)
