"""`precode code project.qdpx --out precoded.qdpx`: a real NVivo project comes back whole, with
the model's codings added as its own user."""

import json
import zipfile
from xml.etree import ElementTree as ET

from typer.testing import CliRunner

from corpus.refi import coder_name, document_names, read_qdpx
from service.cli import app
from tests.conftest import DATA

runner = CliRunner()
MODEL = "precode model"
KNOWN = [json.loads(line)["text"] for line in (DATA / "tiny_coded.jsonl").read_text(
    encoding="utf-8").splitlines()[:12]]


def _codings(project) -> set[tuple]:
    names = document_names(project)
    return {(names[c.source_guid], c.start, c.end, project.codebook[c.code_id].label,
             coder_name(project, c.user_guid)) for c in project.codings}


def _trimmed(src, dest, units: int):
    """The NVivo project with its text cut to its first ``units`` UTF-16 units (whole lines) and
    the selections inside them: NVivo's own XML, BOM, CR LF and emoji, small enough to code. A
    few lines the small test model knows are added at the end, so that it suggests something."""
    ns = "{urn:QDA-XML:project:1.0}"
    ET.register_namespace("", ns[1:-1])
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        root = ET.fromstring(zin.read("project.qde"))
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith(".txt"):
                raw = data[3:].decode("utf-8").encode("utf-16-le")[:2 * units].decode("utf-16-le")
                raw = raw[:raw.rindex("\r\n") + 2] + "\r\n".join(KNOWN) + "\r\n"
                data = b"\xef\xbb\xbf" + raw.encode("utf-8")
            if name != "project.qde":
                zout.writestr(name, data)
        for source in root.iter(ns + "TextSource"):
            for sel in list(source.iter(ns + "PlainTextSelection")):
                if int(sel.get("endPosition")) > units:
                    source.remove(sel)
        zout.writestr("project.qde", ET.tostring(root, encoding="utf-8", xml_declaration=True))
    return dest


def test_code_a_nvivo_project_in_place(reference_data, tiny_model, tmp_path):
    src = _trimmed(reference_data / "refi_exports" / "nvivo_win_12.6" / "oltas.qdpx",
                   tmp_path / "oltas_start.qdpx", 20000)
    assert len(read_qdpx(src).codings) >= 5
    out = tmp_path / "precoded.qdpx"
    result = runner.invoke(app, ["code", str(src), "--out", str(out), "--model", str(tiny_model),
                                 "--min-confidence", "0"])
    assert result.exit_code == 0, result.output
    before, after = read_qdpx(src), read_qdpx(out)
    assert _codings(before) <= _codings(after)  # all on their text, user and code
    ours = {c for c in _codings(after) - _codings(before)}
    assert ours and {c[4] for c in ours} == {MODEL}, result.output
    texts = {s.name: s.text for s in after.sources.values()}
    assert all(texts[name][start:end].strip() for name, start, end, *_ in ours)
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out) as b:
        assert a.namelist() == b.namelist()
        assert all(a.read(n) == b.read(n) for n in a.namelist() if n != "project.qde")


def test_a_project_is_coded_on_its_own(reference_data, tmp_path):
    src = reference_data / "refi_exports" / "nvivo_win_12.6" / "oltas.qdpx"
    other = tmp_path / "notes.txt"
    other.write_text("P1: something else entirely, said at length.\n", encoding="utf-8")
    out = tmp_path / "out.qdpx"
    result = runner.invoke(app, ["code", str(src), str(other), "--out", str(out)])
    assert result.exit_code != 0
    assert "a .qdpx project is pre-coded on its own" in result.output
    assert not out.exists()


def test_nothing_written_when_no_input_can_be_read(tiny_model, tmp_path):
    bad = tmp_path / "broken.qdpx"
    bad.write_bytes(b"not a zip")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["code", str(bad), "--out", str(out), "--model", str(tiny_model)])
    assert result.exit_code == 1
    assert "not a zip archive" in result.output and "nothing written" in result.output
    assert not out.exists()
