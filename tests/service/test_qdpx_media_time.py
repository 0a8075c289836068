"""A pre-coded subtitle file (.vtt/.srt) keeps its media time in a .qdpx: a text source has no
place for times in the REFI-QDA schema, so each selection's description starts with it."""

from __future__ import annotations

import zipfile

import pytest
import xmlschema
from typer.testing import CliRunner

from corpus.codebook import Code, Codebook
from corpus.errors import PrecodeInputError
from corpus.refi import read_qdpx, write_qdpx
from service.cli import app
from tests.service.conftest import SRT, TRANSCRIPT, VTT

runner = CliRunner()


@pytest.fixture(scope="module")
def precoded(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("timed")
    for name, text in (("pathway.vtt", VTT), ("audit.srt", SRT), ("falls.txt", TRANSCRIPT)):
        (tmp / name).write_text(text, encoding="utf-8")
    out = tmp / "timed.qdpx"
    result = runner.invoke(app, ["code", str(tmp / "pathway.vtt"), str(tmp / "audit.srt"),
                                 str(tmp / "falls.txt"), "--out", str(out), "--model",
                                 str(tiny_model), "--min-confidence", "0"])
    assert result.exit_code == 0, result.output
    return out


def by_document(path) -> dict[str, list[tuple[str, str]]]:
    project = read_qdpx(path)
    out: dict[str, list[tuple[str, str]]] = {}
    for c in project.codings:
        source = project.sources[c.source_guid]
        out.setdefault(source.name, []).append((source.text[c.start:c.end], c.description))
    return out


def test_subtitle_codings_carry_their_media_time(precoded):
    coded = by_document(precoded)
    assert {"pathway.vtt", "audit.srt", "falls.txt"} <= set(coded)
    for name, said in (("pathway.vtt", "As a group we worked out the purpose"),
                       ("audit.srt", "The audit looked at two hundred notes")):
        assert coded[name]
        for text, description in coded[name]:
            assert said in text
            first, rest = description.split("\n", 1)
            assert first == "Media time 00:00:05.000-00:00:09.000"
            assert "confidence" in rest  # the model's description follows
    assert not any("Media time" in d for _, d in coded["falls.txt"])  # untimed text: none


def test_timed_project_validates_against_schema(precoded, reference_data):
    schema = xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd"))
    with zipfile.ZipFile(precoded) as zf:
        schema.validate(zf.read("project.qde").decode("utf-8"))


@pytest.mark.parametrize("times", [{"time_start": 9.0, "time_end": 5.0},
                                   {"time_start": "00:00:05", "time_end": 9.0},
                                   {"time_start": float("nan"), "time_end": 9.0}])
def test_a_bad_media_time_names_the_coding(tmp_path, times):
    book = Codebook.from_codes([Code(id="a", label="A")], id="book")
    row = {"document": "d", "start": 0, "end": 4, "codes": ["a"], "user": "u", **times}
    with pytest.raises(PrecodeInputError, match=r"codings\[0\].*bad media time"):
        write_qdpx(tmp_path / "x.qdpx", codebook=book, documents=[("d", "text")], codings=[row])
    assert not (tmp_path / "x.qdpx").exists()
