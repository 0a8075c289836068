"""A codebook's own words teach the model (``training.code_texts``).

A researcher who has coded a code only once still gets it suggested, because its label and
definition count as examples; a suggestion's evidence is still always a coded excerpt. Trained
with the base encoder frozen (seconds).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from corpus.codebook import Code, Codebook
from corpus.excerpts import Excerpt
from models.suggester import Suggester
from training.args import TrainingArguments
from training.code_texts import code_examples
from training.train import train_model

BOOK = Codebook.from_codes([
    Code(id="access", label="Access", codable=False),
    Code(id="access.travel", label="Travel to the clinic", parent="access",
         definition="Getting to appointments: distance, buses, parking and what the journey costs."),
    Code(id="access.waiting", label="Waiting times", parent="access",
         definition="How long people wait for an appointment, a result or in the waiting room."),
    Code(id="access.cost", label="Cost of medicines", parent="access",
         definition="Paying for prescriptions and treatment, and going without because of price."),
    Code(id="access.language", label="Language barriers", parent="access",
         definition="Not understanding the staff, or not being understood, because of the "
                    "language spoken; interpreters and family members translating.",
         examples=["Nobody there spoke Polish, so I nodded along and hoped for the best."]),
], id="access", label="Access to care")

CODED = {
    "access.travel": [
        "It's two buses and then a walk up the hill, so a nine o'clock slot means leaving at seven.",
        "Parking at the hospital is a nightmare, you go round and round and you're late anyway.",
        "I had to get a taxi both ways, that's twenty pounds I don't really have.",
        "When the car broke down I just missed the appointment, there was no other way there.",
    ],
    "access.waiting": [
        "Six weeks for a GP appointment, by then it had cleared up on its own.",
        "We sat in that room for three hours and nobody told us anything.",
        "The results took a month to come back and you're just sitting at home worrying.",
        "You ring at eight on the dot and all the slots have gone by ten past.",
    ],
    "access.cost": [
        "I only collect one of the two prescriptions, I can't pay for both every month.",
        "The cream isn't covered, so it's fifteen euros a tube, I make it last.",
        "He stopped taking the tablets when the price went up, he didn't tell anyone.",
        "Dental work I just put off, I'll sort it when I've got the money.",
    ],
    # coded once: too few to learn from the excerpts alone
    "access.language": ["My daughter came with me to explain things, the doctor talked to her."],
}
UNCODED = [
    "I've lived in this town most of my life, moved here when I was about ten.",
    "The new building is nicer than the old one, brighter anyway.",
    "Can you tell me a bit about yourself first?",
]
NEW_TEXT = "There was no interpreter that day, so I didn't follow half of what the nurse said."


def _excerpts() -> list[Excerpt]:
    out = [Excerpt(text=t, codes=(c,), id=f"{c}-{k}") for c, texts in CODED.items()
           for k, t in enumerate(texts)]
    return out + [Excerpt(text=t, id=f"none-{k}") for k, t in enumerate(UNCODED)]


FROZEN = TrainingArguments(epochs=0, heldout_share=0.3, seed=0)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Suggester]:
    root = tmp_path_factory.mktemp("code-texts")
    out = {}
    for name, args in (("with", FROZEN), ("without", replace(FROZEN, code_text_weight=0))):
        path = train_model(_excerpts(), BOOK, root / name, args=args, progress=False)
        out[name] = Suggester.load(path)
    return out


def test_a_code_coded_once_is_learnt_from_its_definition(models):
    learnt = models["with"].manifest["classes"]
    assert "access.language" in learnt
    assert "access.language" not in models["without"].manifest["classes"]
    [result] = models["with"].suggest([NEW_TEXT], all_scores=True)
    best = max((c for c in result.scores if c != "access"), key=result.scores.get)
    assert best == "access.language", result.scores


def test_evidence_is_always_a_coded_excerpt(models):
    model = models["with"]
    coded = {ex.text for ex in _excerpts()}
    assert {ex.text for ex in model.index.exemplars} == coded
    for result in model.suggest([NEW_TEXT, *CODED["access.cost"]], min_confidence=0.0):
        for suggestion in result.suggestions:
            assert all(ev.text in coded for ev in suggestion.evidence)


def test_the_model_says_how_many_codebook_texts_it_learnt_from(models):
    assert models["with"].manifest["n_code_texts"] == 5  # 4 codes used, one example
    assert models["without"].manifest["n_code_texts"] == 0
    assert models["with"].manifest["code_counts"]["access.language"] == 1  # coded excerpts only


def test_codes_nobody_used_get_no_examples():
    texts = code_examples(BOOK, {"access.travel"})
    assert [ex.codes for ex in texts] == [("access.travel",)]
    assert texts[0].text.startswith("Travel to the clinic. Getting to appointments")


def test_the_model_card_counts_a_code_learnt_from_its_definition_as_learnt(models):
    card = (models["with"].path / "model_card.md").read_text()
    assert "learnt from the codebook's own words" in card
    assert "Too few examples to learn" not in card
    without = (models["without"].path / "model_card.md").read_text()
    assert "Too few examples to learn (suggested only through parents, if at all): " \
           "access.language." in without
