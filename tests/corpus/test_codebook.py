import re
import xml.etree.ElementTree as ET

import pytest
import xmlschema
from typer.testing import CliRunner

from corpus.codebook import (
    Code,
    Codebook,
    builtin_names,
    read_qdc,
    to_csv,
    to_qdc,
    to_yaml,
)
from corpus.codebook_files import load_codebook, load_codebooks
from corpus.errors import CodebookError
from service.cli import app

QDC = "{urn:QDA-XML:codebook:1.0}"
GUID = re.compile(r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?")
NPT_SUBS = {
    "coherence": ["differentiation", "communal_specification", "individual_specification",
                  "internalization"],
    "cognitive_participation": ["initiation", "enrolment", "legitimation", "activation"],
    "collective_action": ["interactional_workability", "relational_integration",
                          "skill_set_workability", "contextual_integration"],
    "reflexive_monitoring": ["systematization", "communal_appraisal", "individual_appraisal",
                             "reconfiguration"],
}


def test_builtin_npt_has_four_constructs_and_sixteen_sub_constructs():
    book = load_codebook("npt")
    assert [c.id for c in book.roots()] == [f"npt.{k}" for k in NPT_SUBS]
    for construct, subs in NPT_SUBS.items():
        assert [c.id for c in book.children(f"npt.{construct}")] == [
            f"npt.{construct}.{s}" for s in subs]
    assert len(book.leaves()) == 16
    for code in book:
        assert code.definition and code.include and code.exclude and code.examples


def test_builtin_integrating_mechanisms():
    book = load_codebook("integrating")
    assert [c.id for c in book] == ["integrating.engaging_groups",
                                    "integrating.bridging_communication",
                                    "integrating.sensemaking", "integrating.negotiating"]
    assert set(builtin_names()) >= {"npt", "integrating"}


def test_combined_codebooks_and_rollup():
    book = load_codebooks("npt,integrating")
    assert len(book) == 24
    assert book.rollup(["npt.coherence.internalization", "integrating.negotiating"]) == {
        "npt.coherence.internalization", "npt.coherence", "integrating.negotiating"}


def write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return p


def test_duplicate_id_names_file_and_code(tmp_path):
    p = write(tmp_path, "dup.yaml", """
id: t
codes:
  - {id: a, label: A, definition: first}
  - {id: a, label: A again, definition: second}
""")
    with pytest.raises(CodebookError, match=r"dup\.yaml \[a\]: duplicate code id"):
        load_codebook(p)


def test_cycle_is_reported(tmp_path):
    p = write(tmp_path, "cycle.yaml", """
id: t
codes:
  - {id: a, label: A, definition: d, parent: b}
  - {id: b, label: B, definition: d, parent: a}
""")
    with pytest.raises(CodebookError, match=r"cycle\.yaml \[a\]: parent cycle: a -> b -> a"):
        load_codebook(p)


def test_missing_parent_and_empty_definition(tmp_path):
    p = write(tmp_path, "orphan.yaml", "codes:\n  - {id: a, label: A, definition: d, parent: zz}\n")
    with pytest.raises(CodebookError, match=r"\[a\]: parent 'zz' does not exist"):
        load_codebook(p)
    p = write(tmp_path, "empty_def.yaml", "codes:\n  - {id: a.b, label: B, definition: '  '}\n")
    book = load_codebook(p)  # accepted, with a warning naming the file and the code
    assert book["a.b"].definition == "B"
    assert book.warnings == [f"{p}: 1 code(s) without a definition use their name instead: a.b"]


def test_broken_yaml_reports_line(tmp_path):
    p = write(tmp_path, "broken.yaml", "id: t\ncodes:\n  - id: a\n    label: [unclosed\n")
    with pytest.raises(CodebookError, match=r"broken\.yaml:\d+: invalid YAML"):
        load_codebook(p)


def test_unknown_field_and_empty_file(tmp_path):
    p = write(tmp_path, "typo.yaml", "codes:\n  - {id: a, label: A, definiton: d}\n")
    with pytest.raises(CodebookError, match=r"\[a\]: unknown field\(s\) definiton"):
        load_codebook(p)
    with pytest.raises(CodebookError, match="empty"):
        load_codebook(write(tmp_path, "empty.yaml", "\n"))


def test_nested_children_and_dotted_parent_inference(tmp_path):
    p = write(tmp_path, "nested.yaml", """
id: mine
codes:
  - id: barriers
    label: Barriers
    definition: Things in the way.
    children:
      - {id: time, label: Time, definition: No time.}
  - {id: barriers.money, label: Money, definition: No money.}
""")
    book = load_codebook(p)
    assert book["time"].parent == "barriers"
    assert book["barriers.money"].parent == "barriers"


@pytest.mark.parametrize("fmt", ["yaml", "csv", "qdc"])
def test_round_trip_keeps_every_field(tmp_path, fmt):
    book = load_codebooks("npt,integrating")
    writer = {"yaml": lambda b: to_yaml(b).encode(), "csv": lambda b: to_csv(b).encode(),
              "qdc": to_qdc}[fmt]
    p = tmp_path / f"book.{fmt}"
    p.write_bytes(writer(book))
    again = load_codebook(p)
    assert list(again.codes) == list(book.codes)
    for code in book:
        other = again[code.id]
        assert (other.label, other.definition, other.include, other.exclude, other.examples,
                other.parent) == (code.label, code.definition, code.include, code.exclude,
                                  code.examples, code.parent)


def test_qdc_export_validates_against_schema(reference_data):
    schema = xmlschema.XMLSchema(str(reference_data / "refi" / "Codebook.xsd"))
    schema.validate(to_qdc(load_codebooks("npt,integrating")).decode())


def test_qdc_export_is_a_refi_codebook_tree():
    """What a CAQDAS program needs of an exported .qdc, checked without the schema file: the
    REFI namespace, one <Code> per code nested as the tree, unique GUIDs, the required attributes,
    and each code's description before its sub-codes."""
    book = load_codebooks("npt,integrating")
    root = ET.fromstring(to_qdc(book))
    assert root.tag == f"{QDC}CodeBook" and [c.tag for c in root] == [f"{QDC}Codes"]
    guids = []

    def check(el, parent):
        children = el.findall(f"{QDC}Code")
        expected = book.children(parent) if parent else book.roots()
        assert [c.get("name") for c in children] == [c.label for c in expected]
        for child, code in zip(children, expected, strict=True):
            assert GUID.fullmatch(child.get("guid")) and child.get("isCodable") in ("true", "false")
            guids.append(child.get("guid"))
            kids = list(child)
            assert kids[0].tag == f"{QDC}Description" and code.definition in kids[0].text
            assert all(k.tag == f"{QDC}Code" for k in kids[1:])
            check(child, code.id)

    check(root[0], None)
    assert len(guids) == len(book) == len(set(guids))


# A codebook in the style of the REFI-QDA standard's annex example (and of what CAQDAS programs
# export): GUIDs with and without braces, an uncodable folder without a description, colours,
# codes side by side on one line, a nested code and an escaped character.
FOREIGN_QDC = """<?xml version="1.0" encoding="UTF-8"?>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:schemaLocation="urn:QDA-XML:codebook:1.0 Codebook.xsd" origin="Some CAQDAS 3.1">
<Codes>
<Code guid="{0a1b2c3d-0000-4000-8000-000000000001}" name="Barriers" isCodable="false">
<Code guid="{0a1b2c3d-0000-4000-8000-000000000002}" name="Staff time" isCodable="true"
color="#ff8800">
<Description>Not enough hours &amp; people to run the new service</Description>
</Code> <Code guid="0A1B2C3D-0000-4000-8000-000000000003" name="Money" isCodable="1" color="#0c0">
<Description>Budgets, funding, costs</Description>
<Code guid="{0a1b2c3d-0000-4000-8000-000000000004}" name="Grant ends" isCodable="true">
<Description>The money stops</Description></Code>
</Code>
</Code>
<Code guid="0a1b2c3d-0000-4000-8000-000000000005" name="Facilitators" isCodable="true">
<Description>What helped</Description>
</Code>
</Codes>
</CodeBook>
"""


def test_reads_a_foreign_qdc(tmp_path):
    book = read_qdc(write(tmp_path, "foreign.qdc", FOREIGN_QDC))
    assert [c.id for c in book] == ["barriers", "barriers.staff_time", "barriers.money",
                                    "barriers.money.grant_ends", "facilitators"]
    assert [c.label for c in book] == ["Barriers", "Staff time", "Money", "Grant ends",
                                       "Facilitators"]
    assert not book["barriers"].codable and book["barriers.money"].codable
    assert book["barriers.staff_time"].definition == "Not enough hours & people to run the new service"
    assert book["barriers.staff_time"].color == "#ff8800"
    assert book["barriers.money.grant_ends"].parent == "barriers.money"
    # GUIDs are kept as the file wrote them, braces and case included
    assert book["barriers"].guid == "{0a1b2c3d-0000-4000-8000-000000000001}"
    assert book["barriers.money"].guid == "0A1B2C3D-0000-4000-8000-000000000003"
    assert load_codebook(tmp_path / "foreign.qdc")["facilitators"].definition == "What helped"


def test_reads_refi_annex_example(reference_data):
    book = read_qdc(reference_data / "refi" / "annexA_example1_codebook.qdc")
    assert [c.label for c in book] == ["Topics", "Economy", "Health care", "Values",
                                       "Conservatives", "Liberals"]
    assert book["economy"].definition == "Anything about jobs or taxes or business"
    assert book["economy"].color == "#ffff00"
    assert not book["topics"].codable
    # braces around GUIDs are kept as the file wrote them
    assert book["economy"].guid == "{d7aa29da-519b-4946-9b90-253b6db8fd0a}"


def test_qdc_with_external_entity_is_refused(tmp_path):
    p = tmp_path / "evil.qdc"
    p.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
                 '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="'
                 '5215cc69-b628-4e02-afb9-9beeaee55808" name="&e;" isCodable="true"/></Codes>'
                 '</CodeBook>')
    with pytest.raises(CodebookError, match=r"evil\.qdc: refused unsafe XML"):
        load_codebook(p)


def test_csv_codebook_errors_name_the_line(tmp_path):
    p = write(tmp_path, "c.csv", "id,label,definition,include,exclude\na,A,defined,,\nb,,,,\n")
    book = load_codebook(p)  # a blank definition (and label) is accepted with a warning
    assert (book["b"].label, book["b"].definition) == ("b", "b") and "b" in book.warnings[0]
    p = write(tmp_path, "h.csv", "when,where\na,A\n")
    with pytest.raises(CodebookError, match=r"h\.csv:1: missing column id or label"):
        load_codebook(p)


def test_cp1252_csv_codebook(tmp_path):
    p = write(tmp_path, "w.csv", "id,label,definition\ncafe,Café,Talk about the “café”\n",
              encoding="cp1252")
    assert load_codebook(p)["cafe"].label == "Café"


def test_from_codes_rejects_bad_ids():
    with pytest.raises(CodebookError, match="invalid code id"):
        Codebook.from_codes([Code(id="has space", label="x", definition="y")], id="t")


def test_cli_show_prints_tree_and_errors_in_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["codebook", "show", "npt", "--no-definitions"])
    assert result.exit_code == 0
    assert "npt.coherence.differentiation" in result.output
    assert "Reconfiguration" in result.output
    bad = write(tmp_path, "bad.yaml", "codes:\n  - {id: a, label: A, definition: d, parent: a}\n")
    result = runner.invoke(app, ["codebook", "show", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "bad.yaml [a]: parent cycle" in result.output
    result = runner.invoke(app, ["codebook", "show", str(tmp_path / "missing.qdc")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_cli_export_qdc(tmp_path):
    out = tmp_path / "npt.qdc"
    result = CliRunner().invoke(app, ["codebook", "export", "npt", "--format", "qdc", "--out",
                                      str(out)])
    assert result.exit_code == 0
    assert len(read_qdc(out)) == 20


def test_cli_show_keeps_brackets_in_labels(tmp_path):
    p = write(tmp_path, "b.csv", "id,label,definition\nx,[red] flags,Warning signs [bold] noted\n")
    result = CliRunner().invoke(app, ["codebook", "show", str(p)])
    assert result.exit_code == 0
    assert "[red] flags" in result.output and "[bold] noted" in result.output
