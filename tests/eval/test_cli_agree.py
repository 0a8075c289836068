"""``precode agree`` end to end with typer's CliRunner, on small real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.eval.conftest import kappa_by_hand

runner = CliRunner()


@pytest.fixture(scope="module")
def app():
    from service.cli import app

    return app


@pytest.fixture
def humans_and_model(tmp_path) -> list[Path]:
    """Two human coders (coded excerpts keyed by segment id) and the model (precode JSONL)."""
    rows = [("int1#1", "We agreed what it was for.", 0, 33),
            ("int1#2", "Nobody had <b>time</b> to learn.", 34, 62),
            ("int1#3", "The nurses ran it in the end.", 63, 92)]
    coders = {"ann": ["a", "b", "c"], "bob": ["a", "b", "b"], "model": ["a", "c", "c"]}
    paths = []
    for coder in ("ann", "bob"):
        path = tmp_path / f"{coder}.csv"
        path.write_text("id,text,codes,document,start,end\n" + "".join(
            f'{sid},"{text}",{code},int1,{s},{e}\n'
            for (sid, text, s, e), code in zip(rows, coders[coder], strict=True)),
            encoding="utf-8")
        paths.append(path)
    model = tmp_path / "coded.jsonl"
    model.write_text("".join(json.dumps(
        {"document": "int1", "segment_id": sid, "start": s, "end": e, "speaker": "P",
         "text": text, "suggestions": [{"code": code, "confidence": 0.7}]}) + "\n"
        for (sid, text, s, e), code in zip(rows, coders["model"], strict=True)),
        encoding="utf-8")
    return [*paths, model]


def one_line_error(result, *patterns: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for pattern in patterns:
        assert re.search(pattern, lines[0]), lines[0]


def test_table(app, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("unit,coder,code\nu1,A,x\nu1,B,x\nu2,A,y\nu2,B,y\nu3,A,x\nu3,B,y\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["agree", str(path), "--mode", "nominal", "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
    assert "Cohen's kappa" in result.output and "Krippendorff's alpha" in result.output
    assert "A vs B" in result.output and "Warnings:" in result.output


def test_json_and_html(app, humans_and_model, tmp_path):
    result = runner.invoke(app, ["agree", *map(str, humans_and_model), "--format", "json",
                                 "--mode", "nominal", "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["coders"] == ["ann", "bob", "model"]
    assert set(report["pairs"]) == {"ann|bob", "ann|model", "bob|model"}
    assert [d["unit"] for d in report["disagreements"]] == ["int1#2", "int1#3"]

    out = tmp_path / "report" / "agree.html"
    result = runner.invoke(app, ["agree", *map(str, humans_and_model), "--format", "html",
                                 "--out", str(out), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert not re.search(r"https?://", page)  # self-contained: nothing fetched
    assert "<script" not in page
    assert "<b>time</b>" not in page and "&lt;b&gt;time&lt;/b&gt;" in page  # escaped
    assert "Coder vs coder" in page and "Coder vs model" in page
    assert "Disagreements (2 units)" in page


def test_html_confusion_for_nominal_pair(app, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("unit,A,B\nu1,x,x\nu2,y,y\nu3,x,y\nu4,<i>,<i>\n", encoding="utf-8")
    result = runner.invoke(app, ["agree", str(path), "--mode", "nominal", "--format", "html",
                                 "--bootstrap", "10"])
    assert result.exit_code == 0, result.output
    assert "Confusion matrix" in result.output and "&lt;i&gt;" in result.output
    assert "<i>" not in result.output


def test_character_unit(app, humans_and_model):
    result = runner.invoke(app, ["agree", *map(str, humans_and_model), "--unit", "character",
                                 "--format", "json", "--min-overlap", "0.8"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["kind"] == "spans" and report["min_overlap"] == 0.8
    a = report["pairs"]["ann|bob"]["character"]["a"]["documents"]["int1"]["all_text"]
    assert a["percent_agreement"] == 1.0
    table = runner.invoke(app, ["agree", *map(str, humans_and_model), "--unit", "character"])
    assert "excluding uncoded text" in table.output and "segment level (MAXQDA" in table.output
    page = runner.invoke(app, ["agree", *map(str, humans_and_model), "--unit", "character",
                               "--format", "html"]).output
    assert "Definitions" in page and not re.search(r"https?://", page)


def test_annotation_sheets(app, annotation_sheets):
    args = ["agree", *map(str, annotation_sheets.files), "--mode", "nominal"]
    result = runner.invoke(app, [*args, "--format", "json", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["coders"] == ["human_annotator_1", "human_annotator_2"]
    assert report["n_units"] == 10 and report["overall"]["percent_agreement"] == pytest.approx(0.8)
    assert report["overall"]["cohen_kappa"]["value"] == pytest.approx(
        kappa_by_hand(*annotation_sheets.codes.values()))
    assert [d["unit"] for d in report["disagreements"]] == ["C106", "C108"]
    table = runner.invoke(app, [*args, "--bootstrap", "20"])
    assert table.exit_code == 0, table.output
    assert "Cohen's kappa" in table.output and "human_annotator_1 vs human_annotator_2" in table.output


def test_ci_claims_sheets(app, reference_data):
    files = sorted((reference_data / "ci_claims").glob("human_annotator_*.csv"))
    assert len(files) == 2
    result = runner.invoke(app, ["agree", *map(str, files), "--mode", "nominal", "--format",
                                 "json", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    overall = json.loads(result.output)["overall"]
    assert overall["cohen_kappa"]["value"] == pytest.approx(0.944, abs=0.001)


def test_nominal_with_two_codes(app, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("unit,coder,code\nu1,A,x\nu1,B,x\nu2,A,x\nu2,A,y\nu2,B,y\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["agree", str(path), "--mode", "nominal"])
    one_line_error(result, r"long\.csv:4", r"unit 'u2', coder 'A'", "exactly one code")


def test_missing_column(app, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("unit,coder\nu1,A\n", encoding="utf-8")
    one_line_error(runner.invoke(app, ["agree", str(path)]), r"long\.csv:1", "missing: code")


@pytest.mark.parametrize("args, pattern", [
    (["--mode", "fuzzy"], r"--mode.*'fuzzy'"),
    (["--level", "cardinal"], r"--level"),
    (["--unit", "word"], r"--unit"),
    (["--format", "pdf"], r"--format"),
    (["--bootstrap", "-1"], r"--bootstrap"),
    (["--unit", "character"], r"--unit.*at least two coders"),  # a table has no spans
])
def test_bad_options(app, tmp_path, args, pattern):
    path = tmp_path / "long.csv"
    path.write_text("unit,coder,code\nu1,A,x\nu1,B,x\n", encoding="utf-8")
    one_line_error(runner.invoke(app, ["agree", str(path), *args]), pattern)


def test_broken_qdpx(app, tmp_path):
    path = tmp_path / "project.qdpx"
    path.write_bytes(b"PK")
    one_line_error(runner.invoke(app, ["agree", str(path)]), r"project\.qdpx")


def test_qdpx_two_users(app, tmp_path, npt_integrating):
    refi = pytest.importorskip("corpus.refi")
    if not hasattr(refi, "write_qdpx") or not hasattr(refi, "read_qdpx_codings"):
        pytest.skip("corpus.refi cannot write and read codings")
    code = "npt.coherence.differentiation"
    path = refi.write_qdpx(tmp_path / "team.qdpx", codebook=npt_integrating,
                           documents=[("int1", "x" * 40)],
                           codings=[{"document": "int1", "start": 0, "end": 10, "codes": [code],
                                     "user": "ann"},
                                    {"document": "int1", "start": 0, "end": 8, "codes": [code],
                                     "user": "bob"}])
    result = runner.invoke(app, ["agree", str(path), "--unit", "character", "--format", "json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)["pairs"]["ann|bob"]["character"][code]["documents"]["int1"]
    assert (entry["both"], entry["only_a"], entry["only_b"]) == (8, 2, 0)
