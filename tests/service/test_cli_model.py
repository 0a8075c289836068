"""The model commands as a researcher runs them: train, suggest, code, show."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_TXT = ROOT / "examples" / "clinic_pharmacist_interview.txt"
EXAMPLE_VTT = ROOT / "examples" / "frailty_review_meeting.vtt"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_command_writes_a_model(tmp_path):
    data = tmp_path / "coded.csv"
    rows = ["text,codes"]
    rows += [f"\"We split the rota with ward {i} if they covered our clinic\",integrating.negotiating"
             for i in range(6)]
    rows += [f"\"We counted the returned forms in week {i}\",npt.reflexive_monitoring.systematization"
             for i in range(6)]
    rows += [f"\"The weather in week {i} was awful\"," for i in range(4)]
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "model"
    result = invoke("train", data, "--codebook", "npt,integrating", "--out", out, "--epochs", "0")
    assert result.exit_code == 0, result.output
    assert (out / "model_card.md").exists() and (out / "index.faiss").exists()
    manifest = json.loads((out / "precode.json").read_text())
    assert manifest["classes"] == ["npt.reflexive_monitoring.systematization",
                                   "integrating.negotiating"]


def test_train_rejects_unknown_codes_by_row(tmp_path):
    data = tmp_path / "coded.csv"
    data.write_text("text,codes\nfine,integrating.negotiating\nbad,integrating.haggling\n")
    result = invoke("train", data, "--out", tmp_path / "m")
    assert result.exit_code == 2
    assert "coded.csv:3 [codes]: unknown code 'integrating.haggling'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_suggest_prints_codes_and_evidence(tiny_model):
    result = invoke("suggest", "--model", tiny_model, "--min-confidence", "0", "--top-k", "2",
                    "I agreed to cover their weekend shift if they took our blood tests.")
    assert result.exit_code == 0, result.output
    assert "confidence" in result.output and "integrating." in result.output
    result = invoke("suggest", "--model", tiny_model, "--json", "Could you say more?")
    assert json.loads(result.stdout)[0]["text"] == "Could you say more?"


def records(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_code_a_transcript_to_jsonl(tiny_model, tmp_path):
    out = tmp_path / "out.jsonl"
    result = invoke("code", EXAMPLE_TXT, "--out", out, "--model", tiny_model, "--all-scores")
    assert result.exit_code == 0, result.output
    recs = records(out)
    original = EXAMPLE_TXT.read_text(encoding="utf-8")
    assert len(recs) > 10
    for r in recs:
        assert original[r["start"]:r["end"]] == r["text"]
        assert r["document"] == EXAMPLE_TXT.name
        if r["interviewer"]:
            assert not r["coded"] and r["suggestions"] == [] and "scores" not in r
        else:
            assert set(r["scores"]) >= {"npt.coherence", "integrating.negotiating"}
            for s in r["suggestions"]:
                assert set(s) >= {"code", "label", "confidence", "evidence"}
                assert all(set(e) >= {"text", "codes", "similarity"} for e in s["evidence"])
    assert "segments" in result.output and "wrote" in result.output


def test_code_segment_table_keeps_ids(tiny_model, tmp_path):
    table = tmp_path / "segments.csv"
    table.write_text("id,text\ns1,We swapped clinic rooms with the physios for their Friday slot.\n"
                     "s2,Could you tell me about your job?\n")
    out = tmp_path / "out.csv"
    assert invoke("code", table, "--out", out, "--model", tiny_model).exit_code == 0
    text = out.read_text()
    assert text.startswith("document,segment_id,start,end,speaker,text,codes,confidences")
    assert ",s1," in text and ",s2," in text


def test_folder_run_reports_unreadable_files_and_continues(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXAMPLE_TXT, folder)
    (folder / "broken.docx").write_bytes(b"this is not a zip file")
    out = tmp_path / "out.jsonl"
    result = invoke("code", folder, "--out", out, "--model", tiny_model)
    assert result.exit_code == 1
    assert "broken.docx" in result.output and "1 file(s) could not be read" in result.output
    assert {r["document"] for r in records(out)} == {EXAMPLE_TXT.name}


def test_rerun_after_interruption_gives_the_same_output(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXAMPLE_TXT, folder)
    shutil.copy(EXAMPLE_VTT, folder)
    full = tmp_path / "full.jsonl"
    assert invoke("code", folder, "--out", full, "--model", tiny_model).exit_code == 0
    # an interrupted run leaves the finished document's part behind and no output
    from models.suggester import Suggester
    from service.batch import PrecodeOptions, run_batch, write_jsonl

    def crash_after_first(records, out, suggester, **_):
        raise KeyboardInterrupt

    partial = tmp_path / "again.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_batch([folder], partial, Suggester.load(tiny_model), PrecodeOptions(),
                  writer=crash_after_first)
    assert not partial.exists() and (tmp_path / "again.jsonl.parts").exists()
    result = invoke("code", folder, "--out", partial, "--model", tiny_model)
    assert result.exit_code == 0 and "resumed" in result.output
    assert partial.read_text() == full.read_text()
    assert not (tmp_path / "again.jsonl.parts").exists()
    assert write_jsonl  # the writer used by the CLI for .jsonl


@pytest.mark.parametrize("args,message", [
    (["--format", "pdf"], "unknown format 'pdf'"),
    (["--unit", "word"], "unknown unit 'word'"),
    (["--min-confidence", "2"], "must lie between 0 and 1"),
])
def test_code_bad_options(tiny_model, tmp_path, args, message):
    result = invoke("code", EXAMPLE_TXT, "--out", tmp_path / "o.jsonl", "--model", tiny_model,
                    *args)
    assert result.exit_code == 2 and message in result.output


def test_show_prints_segments(tiny_model, tmp_path):
    out = tmp_path / "out.jsonl"
    invoke("code", EXAMPLE_VTT, "--out", out, "--model", tiny_model, "--min-confidence", "0")
    result = invoke("show", out)
    assert result.exit_code == 0 and "Interviewer" in result.output or "like:" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    result = invoke("show", bad)
    assert result.exit_code == 2 and "bad.jsonl:1" in result.output


def test_commands_use_the_model_the_environment_names(tiny_model, tmp_path, monkeypatch):
    """PRECODE_MODEL_DIR works for every command as for the server: no --model, and the built-in
    model is not trained into an empty home."""
    home = tmp_path / "home"
    monkeypatch.setenv("PRECODE_HOME", str(home))
    monkeypatch.setenv("PRECODE_MODEL_DIR", str(tiny_model))
    result = invoke("suggest", "--json", "--min-confidence", "0", "--top-k", "1",
                    "I agreed to cover their weekend shift if they took our blood tests.")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["suggestions"]
    assert not (home / "models").exists()
    monkeypatch.setenv("PRECODE_MODEL_DIR", str(tmp_path / "nowhere"))
    result = invoke("suggest", "Hello")
    assert result.exit_code == 2 and "nowhere" in result.output


def test_help_lists_every_command_once():
    result = invoke("--help")
    assert result.exit_code == 0
    names = ["train", "suggest", "code", "show", "evaluate", "serve", "agree", "codebook", "bench",
             "users"]
    listed = [line.split()[1] for line in result.output.splitlines()
              if line.startswith("│ ") and len(line.split()) > 1]
    assert sorted(n for n in listed if n in names) == sorted(names)
