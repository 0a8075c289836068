"""Seed corpus v2 and the anchor utterances meet the style guide and data card, and borrow nothing
from the real data."""

import csv
import json
import re
from collections import Counter

import numpy as np
import pytest

from corpus.seed_corpus import (
    THEORY_RE,
    load_anchors,
    load_seed,
    seed_codebook,
    seed_files,
    seed_folder,
    seed_hash,
)
from tests.corpus.test_seed import check_card_tables

ROLES = {"manager", "nurse", "doctor", "interviewer", "patient", "carer",
         "allied_health_professional", "commissioner", "ngo_partner", "pharmacist",
         "community_health_worker", "receptionist", "midwife", "paramedic", "social_worker",
         "health_care_assistant", "administrator", "dentist", "teacher", "volunteer"}


@pytest.fixture(scope="module")
def v2_rows():
    rows = []
    for path in seed_files(("v2",)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


@pytest.fixture(scope="module")
def all_texts(v2_rows):
    v1 = [json.loads(x)["text"] for x in
          seed_files(("v1",))[0].read_text(encoding="utf-8").splitlines() if x.strip()]
    return v1 + [r["text"] for r in v2_rows] + [a.text for a in load_anchors()]


@pytest.fixture(scope="module")
def all_embeddings(all_texts):
    from models.encoder import encode, load_encoder

    return encode(load_encoder(), all_texts, batch_size=128)


def test_schema_ids_and_scenarios(v2_rows):
    keys = {"id", "text", "codes", "speaker_role", "setting", "intervention", "scenario"}
    by_file = Counter()
    for r in v2_rows:
        assert set(r) == keys, r["id"]
        assert r["speaker_role"] in ROLES, r["id"]
        if r["speaker_role"] == "interviewer":
            assert r["codes"] == [], r["id"]
        by_file[r["scenario"]] += 1
        assert r["id"] == f"{r['scenario']}-{by_file[r['scenario']]:03d}"
    assert {p.stem for p in seed_files(("v2",))} == set(by_file)


def test_size_and_spread(v2_rows, npt_integrating):
    assert len(v2_rows) >= 5000
    scenarios = {r["scenario"] for r in v2_rows}
    assert len(scenarios) >= 80
    assert len({r["setting"] for r in v2_rows}) >= 15
    assert ROLES <= {r["speaker_role"] for r in v2_rows}
    # every scenario speaks to every code, so topic cannot predict a code
    leaves = [c.id for c in npt_integrating.leaves()]
    for scenario in scenarios:
        counts = Counter(c for r in v2_rows if r["scenario"] == scenario for c in r["codes"])
        for code in leaves:
            assert counts[code] >= (2 if code.startswith("npt.") else 1), (scenario, code)
    uncoded = sum(not r["codes"] for r in v2_rows)
    assert uncoded >= 0.1 * len(v2_rows)


def test_real_speech_lengths(v2_rows):
    words = [len(r["text"].split()) for r in v2_rows]
    assert sum(w <= 20 for w in words) >= 0.25 * len(words)  # short verdicts and fragments
    assert sum(w > 60 for w in words) >= 0.10 * len(words)   # stories with a turn in them
    marks = sum(bool(re.search(r"\[[^\]]+\]|…|\.\.\.", r["text"])) for r in v2_rows)
    assert marks >= 0.05 * len(v2_rows)


def test_no_theory_vocabulary(v2_rows):
    assert [(r["id"], m.group(0)) for r in v2_rows if (m := THEORY_RE.search(r["text"]))] == []


def test_no_duplicates_across_both_parts(all_texts, all_embeddings):
    norm = Counter(" ".join(t.lower().split()) for t in all_texts)
    assert [t for t, n in norm.items() if n > 1] == []
    sims = all_embeddings @ all_embeddings.T
    np.fill_diagonal(sims, 0.0)
    i, j = np.where(np.triu(sims) > 0.95)
    assert [(all_texts[a][:60], all_texts[b][:60]) for a, b in zip(i, j, strict=True)] == []


def test_anchors_cover_every_leaf_code_without_theory_words():
    book = seed_codebook()
    anchors = load_anchors(book)
    per_code = Counter(c for a in anchors for c in a.codes)
    leaves = [c.id for c in book.walk() if not book.children(c.id)]
    assert {c: per_code[c] for c in leaves if per_code[c] < 30} == {}
    assert set(per_code) == set(leaves)
    assert all(len(a.codes) == 1 for a in anchors)
    assert [(a.id, m.group(0)) for a in anchors if (m := THEORY_RE.search(a.text))] == []
    assert len({a.id for a in anchors}) == len(anchors)


def test_data_card_counts_match_v2(v2_rows):
    card = (seed_folder() / "README.md").read_text(encoding="utf-8")
    section = card[card.index("## Version 2"):]
    check_card_tables(section, v2_rows)
    assert f"holds {len(v2_rows):,} excerpts" in section


def test_parts_load_and_hash_separately():
    v1 = load_seed(parts=("v1",))
    both = load_seed(parts=("v1", "v2"))
    assert len(v1) == 1806 and len(both) > len(v1)
    assert {ex.meta["part"] for ex in both} == {"v1", "v2"}
    assert seed_hash(("v1",)) != seed_hash(("v1", "v2"))
    with pytest.raises(ValueError, match="unknown seed corpus part"):
        load_seed(parts=("v3",))


def _reference_texts(folder) -> list[str]:
    texts = [json.loads(line)["text"] for line in
             (folder / "npt_quotes_dev" / "quotes.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    claims = json.loads((folder / "ci_claims" / "02_dataset_gold_CI.json").read_text("utf-8"))
    texts += [c["input"]["claim"] for c in claims]
    with open(folder / "fivewords_two_coder" / "fivewords_two_coder_long.csv",
              encoding="utf-8") as f:
        texts += [row["text"] for row in csv.DictReader(f)]
    return texts


def test_nothing_borrowed_from_the_reference_data(reference_data, all_texts, all_embeddings):
    """No seed excerpt shares half its words with a real quote, claim or answer, or says the same
    thing in other words (cosine above 0.85 under the base encoder)."""
    from models.encoder import encode, load_encoder

    real = _reference_texts(reference_data)
    words = [set(re.findall(r"[a-z']+", t.lower())) for t in real]
    close = []
    for text in all_texts:
        mine = set(re.findall(r"[a-z']+", text.lower()))
        for theirs, w in zip(real, words, strict=True):
            if mine and w and len(mine & w) / len(mine | w) >= 0.5:
                close.append((text[:60], theirs[:60]))
    assert close == []
    sims = all_embeddings @ encode(load_encoder(), real, batch_size=128).T
    i, j = np.where(sims > 0.85)
    assert [(all_texts[a][:60], real[b][:60]) for a, b in zip(i, j, strict=True)] == []
