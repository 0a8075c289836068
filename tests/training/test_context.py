"""Excerpts with their context: the question a text answers decides what it means.

A survey answer "Yes, nearly all of them" is password reuse under one question and a password
manager under another. A model trained on excerpts that carry their question reads every text
with its question, when it learns and when it suggests (the API, ``precode suggest`` and
``precode code`` on segment tables and transcripts); a model trained without contexts ignores
them. Trained with the base encoder frozen (seconds).
"""

from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager
from dataclasses import replace

import pytest

from corpus.codebook import Code, Codebook
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt, read_excerpts, with_context, write_excerpts
from models.suggester import Suggester
from service.batch import PrecodeOptions, code_document
from training.args import TrainingArguments
from training.train import refit_model, train_model

BOOK = Codebook.from_codes([
    Code(id="reuse", label="Reusing passwords",
         definition="The same password, or small changes of it, on several accounts."),
    Code(id="manager", label="Password manager",
         definition="Passwords kept in a manager app or saved in the browser."),
    Code(id="paper", label="Writing passwords down",
         definition="Passwords written on paper, in a notebook or in the phone's notes."),
], id="habits", label="Password habits")

QUESTIONS = {
    "reuse": "Do you use the same password on more than one website?",
    "manager": "Do you keep your passwords in a password manager?",
    "paper": "Do you write your passwords down anywhere?",
}
YES = ["Yes, for most of them.", "Yeah, pretty much always to be honest.",
       "Yes, I do that for nearly everything.", "Mostly yes, it is just easier.",
       "Yes, all the time.", "I do, yes, for the accounts I use every day."]
NO = ["No, never.", "Not really, no.", "No, I don't do that at all."]
NEW_YES = "Yes, for almost every account I have."


def _excerpts() -> list[Excerpt]:
    out = []
    for code, question in QUESTIONS.items():
        out += [Excerpt(text=t, codes=(code,), id=f"{code}-yes-{k}", meta={"context": question})
                for k, t in enumerate(YES)]
        out += [Excerpt(text=t, id=f"{code}-no-{k}", meta={"context": question})
                for k, t in enumerate(NO)]
    return out


FROZEN = TrainingArguments(epochs=0, heldout_share=0.3, seed=0)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Suggester]:
    root = tmp_path_factory.mktemp("context")
    plain = [replace(ex, meta={}) for ex in _excerpts()]
    return {"context": Suggester.load(train_model(_excerpts(), BOOK, root / "context",
                                                  args=FROZEN, progress=False)),
            "plain": Suggester.load(train_model(plain, BOOK, root / "plain", args=FROZEN,
                                                progress=False))}


def _best(result) -> str:
    return max(result.scores, key=result.scores.get)


def test_the_same_answer_gets_the_code_its_question_asks_about(models):
    model = models["context"]
    assert model.reads_context and model.manifest["reads_context"] is True
    results = model.suggest([NEW_YES] * 3, contexts=list(QUESTIONS.values()), all_scores=True)
    assert [_best(r) for r in results] == list(QUESTIONS)


def test_the_model_card_says_it_reads_contexts(models):
    assert "Reads each text with its context" in (models["context"].path
                                                  / "model_card.md").read_text()
    assert "Reads each text" not in (models["plain"].path / "model_card.md").read_text()


def test_a_model_trained_without_contexts_ignores_them(models):
    model = models["plain"]
    assert not model.reads_context
    results = model.suggest([NEW_YES] * 3, contexts=list(QUESTIONS.values()), all_scores=True)
    assert results[0].scores == results[1].scores == results[2].scores


def test_exemplars_keep_their_own_text_and_show_their_question_as_evidence(models):
    model = models["context"]
    assert {ex.text for ex in model.index.exemplars} == set(YES + NO)
    [result] = model.suggest([NEW_YES], contexts=[QUESTIONS["manager"]], min_confidence=0.0)
    evidence = result.suggestions[0].evidence
    assert evidence and all(e.context in QUESTIONS.values() for e in evidence)
    shown = result.suggestions[0].to_dict()["evidence"][0]
    assert shown["context"] == evidence[0].context and shown["text"] in YES + NO


def test_a_refit_model_still_reads_contexts(models, tmp_path):
    more = _excerpts() + [Excerpt(text="Yes, on my phone in a notes app.", codes=("paper",),
                                  meta={"context": QUESTIONS["paper"]})]
    refit = Suggester.load(refit_model(models["context"].path, more, tmp_path / "refit"))
    assert refit.reads_context
    results = refit.suggest([NEW_YES] * 3, contexts=list(QUESTIONS.values()), all_scores=True)
    assert [_best(r) for r in results] == list(QUESTIONS)


def test_contexts_must_match_the_texts(models):
    with pytest.raises(PrecodeInputError, match="2 contexts for 1 texts"):
        models["context"].suggest([NEW_YES], contexts=["a", "b"])


def test_precode_code_reads_a_segment_tables_context_column(models, tmp_path):
    table = tmp_path / "answers.csv"
    rows = ["id,text,context"] + [f'{code},"{NEW_YES}","{q}"' for code, q in QUESTIONS.items()]
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    records = code_document(table, "answers.csv", models["context"],
                            PrecodeOptions(all_scores=True))
    assert [r["context"] for r in records] == list(QUESTIONS.values())
    assert [max(r["scores"], key=r["scores"].get) for r in records] == list(QUESTIONS)
    # the CSV output keeps each answer's question beside it
    from service.batch import write_csv

    write_csv(records, tmp_path / "coded.csv")
    rows = list(csv.DictReader((tmp_path / "coded.csv").open(encoding="utf-8")))
    assert [r["context"] for r in rows] == list(QUESTIONS.values())


def test_precode_code_reads_each_answer_in_a_transcript_with_the_question_before_it(models,
                                                                                     tmp_path):
    lines = []
    for question in QUESTIONS.values():
        lines += [f"Interviewer: {question}", f"Participant: {NEW_YES} That is just how I am."]
    transcript = tmp_path / "p01.txt"
    transcript.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    records = code_document(transcript, "p01.txt", models["context"],
                            PrecodeOptions(all_scores=True))
    answers = [r for r in records if r["coded"]]
    assert [r["context"] for r in answers] == list(QUESTIONS.values())
    assert [max(r["scores"], key=r["scores"].get) for r in answers] == list(QUESTIONS)
    assert all("context" not in r for r in records if r["interviewer"])


def test_excerpt_files_carry_the_context_column(tmp_path):
    for name in ("coded.csv", "coded.jsonl"):
        path = write_excerpts(_excerpts()[:2], tmp_path / name)
        back = read_excerpts(path, BOOK)
        assert [ex.meta["context"] for ex in back] == [QUESTIONS["reuse"]] * 2


def test_a_context_that_is_not_text_names_its_line(tmp_path):
    path = tmp_path / "coded.jsonl"
    path.write_text(json.dumps({"text": "Yes.", "codes": ["reuse"], "context": "Q?"}) + "\n"
                    + json.dumps({"text": "No.", "codes": [], "context": 3}) + "\n")
    with pytest.raises(PrecodeInputError) as err:
        read_excerpts(path, BOOK)
    assert err.value.line == 2 and err.value.field == "context"


def test_a_long_interviewer_turn_keeps_its_last_words():
    turn = " ".join(f"w{i}" for i in range(100)) + " so, what did you think?"
    read = with_context("It was fine.", turn)
    assert read.endswith("so, what did you think?: It was fine.")
    assert read.startswith("… ") and "w50" not in read and len(read.split()) < 50
    assert with_context("It was fine.", "  ") == "It was fine."


def test_the_api_reads_each_segments_context(models, tmp_path):
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.services.users import create_user
    from service.settings import Settings

    app = create_app(Settings(home=tmp_path / "home"), suggester=models["context"])
    with TestClient(app) as client:
        with app.state.sessions() as session:
            _, token = create_user(session=session, name="surveys")
        body = {"segments": [{"id": code, "text": NEW_YES, "context": question}
                             for code, question in QUESTIONS.items()], "top_k": 1,
                "min_confidence": 0.0}
        res = client.post("/v1/suggest", json=body, headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200
    got = {s["id"]: s["suggestions"][0]["code"] for s in res.json()["segments"]}
    assert got == {code: code for code in QUESTIONS}


@contextmanager
def _survey_project(model: Suggester, tmp_path):
    """A running app on ``model`` and its owner's project with the password-habits codebook:
    (owner, project id)."""
    from fastapi.testclient import TestClient

    from corpus.codebook import to_yaml
    from service.api.app import create_app
    from service.settings import Settings
    from tests.service.conftest import Api, new_project, new_user

    app = create_app(Settings(home=tmp_path / "home", job_poll_seconds=0.05), suggester=model)
    with TestClient(app) as client:
        app.state.client = client
        name, token = new_user(app, "owner")
        owner = Api(client, token, name)
        pid = new_project(owner)
        res = owner.put(f"/v1/projects/{pid}/codebook",
                        files={"file": ("habits.yaml", to_yaml(BOOK).encode())})
        assert res.status_code == 200, res.text
        yield owner, pid


def test_a_project_precode_job_reads_each_answer_with_the_question_before_it(models, tmp_path):
    from tests.service.conftest import precode

    with _survey_project(models["context"], tmp_path) as (owner, pid):
        lines = []
        for question in QUESTIONS.values():
            lines += [f"Interviewer: {question}", f"P1: {NEW_YES} That is just how I am."]
        res = owner.upload(pid, "p01.txt", "\n".join(lines).encode())
        assert res.status_code == 201, res.text
        precode(owner, pid, min_confidence=0.0, top_k=1)
        items = owner.get(f"/v1/projects/{pid}/suggestions", params={"limit": 50}).json()["items"]
    best = sorted((s["segment"]["start"], s["code"]) for s in items)
    assert [code for _, code in best] == list(QUESTIONS)


def test_a_segment_table_uploaded_to_a_project_keeps_its_context_column(models, tmp_path):
    """The table's own questions are stored with its segments, shown by the segments route, read
    by pre-coding jobs (the table has no interviewer turns to take them from) and exported."""
    from tests.service.conftest import precode

    rows = ["id,text,context"] + [f'{code},"{NEW_YES}","{q}"' for code, q in QUESTIONS.items()]
    rows.append('blank,"No, never.",')
    with _survey_project(models["context"], tmp_path) as (owner, pid):
        res = owner.upload(pid, "answers.csv", ("\n".join(rows) + "\n").encode())
        assert res.status_code == 201, res.text
        doc = res.json()["documents"][0]["id"]
        segments = owner.get(f"/v1/projects/{pid}/documents/{doc}/segments").json()
        precode(owner, pid, min_confidence=0.0, top_k=1)
        items = owner.get(f"/v1/projects/{pid}/suggestions", params={"limit": 50}).json()["items"]
        exported = owner.get(f"/v1/projects/{pid}/export.csv").text
    assert [s["context"] for s in segments] == [*QUESTIONS.values(), None]
    # the export keeps each answer's question beside it
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {r["context"] for r in rows if r["text"] == NEW_YES} == set(QUESTIONS.values())
    assert {r["context"] for r in rows if r["text"] != NEW_YES} <= {""}
    best = {s["segment"]["external_id"]: s["code"] for s in items}
    assert {k: best[k] for k in QUESTIONS} == {code: code for code in QUESTIONS}


def test_precode_suggest_takes_the_question_and_shows_the_evidences(models):
    from typer.testing import CliRunner

    from service.cli import app

    result = CliRunner().invoke(app, ["suggest", NEW_YES, "--model", str(models["context"].path),
                                      "--context", QUESTIONS["paper"], "--top-k", "1"])
    assert result.exit_code == 0, result.output
    assert "paper" in result.output and "manager" not in result.output
    assert f"to: {QUESTIONS['paper']}" in result.output
