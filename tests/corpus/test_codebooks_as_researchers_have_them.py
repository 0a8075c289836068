"""Codebooks as researchers have them: Taguette's .qdc and CSV, blank definitions, names in any
script, and a code named by its label wherever a code is named."""

import pytest
from typer.testing import CliRunner

from corpus.codebook_files import load_codebook
from corpus.excerpts import read_excerpts
from corpus.refi import read_qdpx
from eval.agreement_io import read_codings
from service.cli import app


def test_taguette_codebook_qdc_and_csv(reference_data):
    folder = reference_data / "refi_exports" / "taguette_1.4.1"
    qdc = load_codebook(folder / "codebook_taguette_1.4.1.qdc")
    assert [c.label for c in qdc] == ["xsd:element name", "CodeBook", "Variables"]
    assert qdc["codebook"].guid == "A2209CFF-8E89-5B0A-A7B0-CDDC4BE92936"  # kept as written
    assert "3 code(s) without a definition" in qdc.warnings[0]
    csv = load_codebook(folder / "codebook_taguette.csv")  # columns tag, description
    assert [(c.id, c.label) for c in csv] == [(c.id, c.label) for c in qdc]


def test_blank_definition_is_a_warning_in_the_cli(tmp_path):
    path = tmp_path / "ours.csv"
    path.write_text("id,label,definition\ntrust,Trust in doctors,\nfear,Fear,Being afraid\n",
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["codebook", "show", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "trust" in result.output


def test_ids_keep_letters_of_any_script(tmp_path, reference_data):
    path = tmp_path / "colours.csv"
    path.write_text("label,definition\nSárga szín,Yellow\nÖröm,Joy\n改善,Improvement\n",
                    encoding="utf-8")
    assert [c.id for c in load_codebook(path)] == ["sárga_szín", "öröm", "改善"]
    project = read_qdpx(reference_data / "refi_exports" / "nvivo_win_12.6" / "oltas.qdpx",
                        require_text=False)
    accented = [c.id for c in project.codebook if any(ch in c.id for ch in "áéíóöőúüű")]
    assert accented  # Hungarian code names keep their letters in the ids
    assert all(not c.id.count("__") for c in project.codebook)


@pytest.fixture()
def book(tmp_path):
    path = tmp_path / "book.csv"
    path.write_text("id,label,definition\nsárga,Sárga szín,Yellow\nfear,Fear of needles,Afraid\n",
                    encoding="utf-8")
    return load_codebook(path)


def test_labels_name_codes_in_excerpts_and_agreement(tmp_path, book):
    excerpts = tmp_path / "coded.csv"
    excerpts.write_text("text,codes\nIt was yellow.,Sárga szín\nI hate injections.,"
                        "fear of  NEEDLES;sárga\n", encoding="utf-8")
    rows = read_excerpts(excerpts, book)
    assert [e.codes for e in rows] == [("sárga",), ("fear", "sárga")]
    coder = tmp_path / "a.csv"
    coder.write_text("unit,coder,code\nu1,A,Fear of needles\nu2,A,sárga\n", encoding="utf-8")
    codings = read_codings([coder], codebook=book)
    assert codings.codes == ["fear", "sárga"]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,codes\nx,Nothing like it\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"bad\.csv:2.*unknown code 'Nothing like it'"):
        read_excerpts(bad, book)
