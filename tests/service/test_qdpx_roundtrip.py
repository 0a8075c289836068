"""Pre-coded transcripts go to a CAQDAS package as .qdpx, and a .qdpx can train a model."""

import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import xmlschema
from typer.testing import CliRunner

from corpus.refi import read_qdpx
from service.cli import app

runner = CliRunner()
NS = "{urn:QDA-XML:project:1.0}"
GUID = re.compile(r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?")


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def precoded(tiny_model, tmp_path_factory) -> tuple[Path, Path]:
    """A transcript with accents and an astral-plane emoji, and a table, pre-coded to .qdpx."""
    tmp_path = tmp_path_factory.mktemp("precoded")
    src = tmp_path / "accents.txt"
    src.write_text("Interviewer: How did it start?\n\nP1: Renée 😀 said “I agreed to lend them two "
                   "nurses in winter if they gave us the clinic room on Fridays.”\n\nP2: We "
                   "agreed what it was for as a team, in the café.\n", encoding="utf-8")
    table = tmp_path / "segments.csv"
    table.write_text("id,text\nq1,We gave the lab our courier budget so they ran our samples "
                     "first.\nq2,Lovely weather today.\n")
    out = tmp_path / "precoded.qdpx"
    result = run("code", src, table, "--out", out, "--model", tiny_model, "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    return src, out


def project_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("project.qde").decode("utf-8")


def test_code_to_qdpx_keeps_offsets(precoded):
    src, out = precoded
    project = read_qdpx(out)
    assert set(project.users.values()) == {"precode model"}
    texts = {s.name: s.text for s in project.sources.values()}
    assert texts["accents.txt"] == src.read_text(encoding="utf-8")
    assert "We gave the lab our courier budget" in texts["segments"]  # a table names its document by its stem
    assert project.codings
    by_guid = {g: s for g, s in project.sources.items()}
    for c in project.codings:
        span = by_guid[c.source_guid].text[c.start:c.end]
        assert span and not span.startswith(("Interviewer", "P1:", "P2:"))
        assert "confidence" in c.description
    coded = {by_guid[c.source_guid].text[c.start:c.end] for c in project.codings}
    assert any("😀" in t for t in coded)  # offsets count the emoji as one character


def test_code_to_qdpx_holds_together(precoded):
    """Without the schema file: what an importing program relies on is consistent."""
    root = ET.fromstring(project_xml(precoded[1]))
    assert root.tag == f"{NS}Project"
    guids = [el.get("guid") for el in root.iter() if el.get("guid") is not None]
    assert all(GUID.fullmatch(g) for g in guids) and len(guids) == len(set(guids))
    codes = {el.get("guid") for el in root.iter(f"{NS}Code")}
    refs = {el.get("targetGUID") for el in root.iter(f"{NS}CodeRef")}
    assert refs and refs <= codes
    users = {el.get("guid") for el in root.iter(f"{NS}User")}
    assert {el.get("creatingUser") for el in root.iter(f"{NS}Coding")} == users


def test_code_to_qdpx_validates_against_schema(precoded, reference_data):
    schema = xmlschema.XMLSchema(str(reference_data / "refi" / "Project-mrt2019.xsd"))
    schema.validate(project_xml(precoded[1]))


def test_train_from_qdpx_with_coder(tiny_model, tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("\n\n".join(
        f"P{i}: We swapped our Saturday clinic with the ward if they covered the Monday list, "
        f"week {i}." if i % 2 else f"P{i}: We counted the returned forms every month to see how "
        f"it went, month {i}." for i in range(1, 13)) + "\n\nP1: My dog is called Biscuit and "
        "he is very old now, he sleeps all day in the sun.\n", encoding="utf-8")
    project = tmp_path / "p.qdpx"
    assert run("code", src, "--out", project, "--model", tiny_model, "--min-confidence",
               "0").exit_code == 0
    result = run("train", project, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "m" / "precode.json").read_text())
    assert manifest["n_excerpts"] >= 12
    result = run("train", project, "--coder", "nobody", "--out", tmp_path / "m2")
    assert result.exit_code == 2 and "no user 'nobody'" in result.output
