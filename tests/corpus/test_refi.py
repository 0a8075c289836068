import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
import xmlschema

from corpus.codebook import Code, Codebook
from corpus.codebook_files import load_codebook
from corpus.errors import PrecodeInputError
from corpus.refi import (
    project_excerpts,
    read_qdpx,
    read_qdpx_codebook,
    read_qdpx_codings,
    users_by_name,
    write_qdpx,
)

NS = "urn:QDA-XML:project:1.0"
FRIEDRICH = "Friedrich Markgraf"
GUID = re.compile(r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?")


# ---- an ATLAS.ti-style export, built here -----------------------------------------------------
# Modelled on what ATLAS.ti writes (the REFI-QDA sample projects in the reference data): the entry
# is "Project.qde" and the folder "Sources/", GUIDs are upper case without braces, code groups are
# spelt "Group::code" in a flat list, a selection is named after its (shortened) quote, a
# source's name can be decomposed Unicode (NFD), a comment-only selection has no <Coding>, and
# picture sources sit beside the text ones.
def _g(kind: int, n: int) -> str:
    return f"{kind:08X}-AAAA-4BBB-8CCC-{n:012X}"


APP, ZOE, OMAR = _g(1, 1), _g(1, 2), _g(1, 3)
TEA, GREEN, CALM, RUSHED, SLEEPY = (_g(2, n) for n in range(1, 6))
ANA, MABEL, BO, PICTURE = (_g(3, n) for n in range(1, 5))
ZOE_NAME = "Zoë Brandt"
MABEL_NFD = unicodedata.normalize("NFD", "Mabêl 2ième.txt")
TEXTS = {ANA: "Honestly, I was calm about it.\nThen I had green tea – très bon 😀 – and felt rushed.\n",
         MABEL: "Breakfast is mayhem here.\n",
         BO: "We skipped breakfast twice a week.\n"}
QUOTE_WHOLE = "Honestly, I was calm about it."
QUOTE_LONG = "I had green tea – très bon 😀 – and felt rushed."


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _selection(n: int, source: str, quote: str, body: str, *, name: str | None = None) -> str:
    # ATLAS.ti counts UTF-16 code units, as NVivo does: the emoji is two
    before = TEXTS[source][:TEXTS[source].index(quote)]
    start, end = _utf16(before), _utf16(before + quote)
    return (f'<PlainTextSelection startPosition="{start}" endPosition="{end}" '
            f'guid="{_g(4, n)}" creatingUser="{ZOE}" name={quoteattr(name or quote)}>{body}'
            "</PlainTextSelection>")


def _coding(n: int, code: str, user: str = ZOE) -> str:
    return (f'<Coding creatingUser="{user}" guid="{_g(5, n)}"><CodeRef targetGUID="{code}"/>'
            "</Coding>")


def atlas_project(tmp_path: Path, *, with_texts: bool = False) -> Path:
    """A small ATLAS.ti-style .qdpx; like the sample ATLAS.ti projects it ships without its text
    files unless ``with_texts``."""
    long_name = QUOTE_LONG[:20] + "…"
    qde = f"""<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<Project xmlns="{NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    origin="ATLAS.ti 9.0" creatingUserGUID="{ZOE}" name="Breakfast study">
    <Users>
        <User guid="{APP}" name="ATLAS.ti"/>
        <User guid="{ZOE}" name="{ZOE_NAME}"/>
        <User guid="{OMAR}" name="Omar Haddad"/>
    </Users>
    <CodeBook>
        <Codes>
            <Code color="#966450" isCodable="true" name="Tea" guid="{TEA}">
                <Description>hot drinks, any time of day</Description>
            </Code>
            <Code color="#966450" isCodable="true" name="Tea::green tea" guid="{GREEN}">
                <Description>non sucré</Description>
            </Code>
            <Code color="#F00082" isCodable="true" name="calm" guid="{CALM}"/>
            <Code isCodable="true" name="&quot;rushed&quot;" guid="{RUSHED}"/>
            <Code color="#F00082" isCodable="true" name="sleepy" guid="{SLEEPY}"/>
        </Codes>
    </CodeBook>
    <Sources>
        <TextSource plainTextPath="internal://{_g(6, 1)}.txt" richTextPath="internal://{_g(7, 1)}.docx"
            guid="{ANA}" name="Ana.txt" creatingUser="{ZOE}">
            {_selection(1, ANA, QUOTE_WHOLE, _coding(1, CALM) + _coding(2, TEA) + _coding(3, SLEEPY))}
            {_selection(2, ANA, QUOTE_LONG, "<Description>why green, not black?</Description>"
                        + _coding(4, GREEN) + _coding(5, RUSHED), name=long_name)}
        </TextSource>
        <TextSource plainTextPath="internal://{_g(6, 2)}.txt" guid="{MABEL}" name="{MABEL_NFD}">
            {_selection(3, MABEL, "mayhem", "<Description>a comment, no code</Description>")}
        </TextSource>
        <TextSource plainTextPath="internal://{_g(6, 3)}.txt" guid="{BO}" name="Bo.docx">
            {_selection(4, BO, "skipped breakfast", _coding(6, SLEEPY))}
        </TextSource>
        <PictureSource path="internal://{_g(6, 4)}.jpg" guid="{PICTURE}" name="tea.jpg">
            <PictureSelection firstX="1" firstY="1" secondX="90" secondY="90" guid="{_g(4, 5)}"
                name="Quotation 4:1">{_coding(7, TEA)}</PictureSelection>
        </PictureSource>
    </Sources>
</Project>
"""
    path = tmp_path / "breakfast.qdpx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Project.qde", qde.encode("utf-8"))
        if with_texts:
            for n, source in enumerate((ANA, MABEL, BO), start=1):
                zf.writestr(f"Sources/{_g(6, n)}.txt", TEXTS[source].encode("utf-8"))
    return path


def test_atlas_style_project_loads_codes_users_sources_and_codings(tmp_path):
    p = read_qdpx(atlas_project(tmp_path), require_text=False)
    assert p.name == "Breakfast study"
    assert [c.id for c in p.codebook] == ["tea", "tea_green_tea", "calm", "rushed", "sleepy"]
    assert p.codebook["rushed"].label == '"rushed"'
    assert p.codebook["tea"].definition == "hot drinks, any time of day"
    assert p.codebook["calm"].definition == "calm"  # no description: the name
    assert set(users_by_name(p)) == {"ATLAS.ti", ZOE_NAME, "Omar Haddad"}
    names = {s.name for s in p.sources.values()}
    assert names == {"Ana.txt", "Mabêl 2ième.txt", "Bo.docx"}  # read as NFC
    assert unicodedata.is_normalized("NFC", "".join(names))
    assert all(s.text is None for s in p.sources.values())
    assert len(p.codings) == 6 and {p.users[c.user_guid] for c in p.codings} == {ZOE_NAME}
    spans = {c.selection_name: (c.start, c.end) for c in p.codings}
    start, end = spans[QUOTE_WHOLE]  # a whole quote: offsets count characters
    assert end - start == len(QUOTE_WHOLE)
    long = [c for c in p.codings if c.code_id == "tea_green_tea"]
    assert long[0].description == "why green, not black?"
    # without the text there is nothing to convert with: the file's UTF-16 units (emoji: two)
    assert long[0].end - long[0].start == _utf16(QUOTE_LONG) == len(QUOTE_LONG) + 1
    assert any("non-text sources: 1 PictureSource" in n for n in p.notes)
    assert any("1 selection(s) carry no code" in n for n in p.notes)  # the comment-only one
    assert any("without a description" in n and "calm" in n for n in p.notes)


def test_project_needs_its_text_files_by_default(tmp_path):
    with pytest.raises(PrecodeInputError, match=r"breakfast\.qdpx: source 'Ana\.txt': its text file "
                                                r"sources/.*\.txt is missing"):
        read_qdpx(atlas_project(tmp_path))
    p = read_qdpx(atlas_project(tmp_path, with_texts=True))  # "Sources/" found for "sources/"
    assert {s.name: s.text for s in p.sources.values()}["Ana.txt"] == TEXTS[ANA]


def test_read_qdpx_codings_on_atlas_style_project(tmp_path):
    codings = read_qdpx_codings(atlas_project(tmp_path))  # no texts needed
    assert list(codings) == [ZOE_NAME]  # users without codings are not coders
    whole = TEXTS[ANA].index(QUOTE_WHOLE)
    assert codings[ZOE_NAME][f"Ana.txt:{whole}-{whole + len(QUOTE_WHOLE)}"] == {"calm", "tea",
                                                                                 "sleepy"}
    skipped = TEXTS[BO].index("skipped")
    assert codings[ZOE_NAME][f"Bo.docx:{skipped}-{skipped + 17}"] == {"sleepy"}
    assert len(codings[ZOE_NAME]) == 3


def test_project_excerpts_on_atlas_style_project(tmp_path):
    p = read_qdpx(atlas_project(tmp_path), require_text=False)
    with pytest.raises(PrecodeInputError, match=f"no user 'Nobody'.*{ZOE_NAME}"):
        project_excerpts(p, coder="Nobody")
    with pytest.raises(PrecodeInputError, match="has no text"):
        project_excerpts(p, coder=ZOE_NAME)
    p = read_qdpx(atlas_project(tmp_path, with_texts=True))
    excerpts = project_excerpts(p, coder=ZOE_NAME)
    assert [(e.document, e.text, e.codes) for e in excerpts] == [
        ("Ana.txt", QUOTE_WHOLE, ("calm", "tea", "sleepy")),  # one span's codes merged
        ("Ana.txt", QUOTE_LONG, ("tea_green_tea", "rushed")),
        ("Bo.docx", "skipped breakfast", ("sleepy",)),
    ]
    assert all(e.coder == ZOE_NAME for e in excerpts)
    assert project_excerpts(p, coder="Omar Haddad") == []


def test_blank_and_nested_projects_load(tmp_path):
    users = f'<Users><User guid="{APP}" name="ATLAS.ti"/><User guid="{OMAR}" name="Omar Haddad"/></Users>'
    blank = make_qdpx(tmp_path, users, name="blank.qdpx")
    p = read_qdpx(blank)
    assert p.codebook is None and p.codings == [] and len(p.users) == 2
    with pytest.raises(PrecodeInputError, match="no codes"):
        read_qdpx_codebook(blank)
    nested = make_qdpx(tmp_path, users + f"""<CodeBook><Codes>
      <Code guid="{TEA}" name="Drinks" isCodable="true">
        <Code guid="{GREEN}" name="Green tea" isCodable="true" />
        <Code guid="{CALM}" name="Coffee" isCodable="true" />
      </Code></Codes></CodeBook>""", name="nested.qdpx")
    book = read_qdpx_codebook(nested)
    assert [c.id for c in book.roots()] == ["drinks"]
    assert [c.id for c in book.children("drinks")] == ["drinks.green_tea", "drinks.coffee"]
    assert book["drinks"].guid == TEA  # as the file wrote it


# ---- the sample projects (reference data) ----------------------------------------------------
@pytest.fixture
def refi(reference_data) -> Path:
    return reference_data / "refi"


def test_atlas_test_project_loads_codes_users_sources_and_codings(refi):
    p = read_qdpx(refi / "TestProject.qdpx", require_text=False)  # the sample ships without its text files
    assert p.name == "ATLAS.ti standard project"
    assert len(p.codebook) == 14 and "coke_diet_coke" in p.codebook
    assert p.codebook["coke"].definition == "the breakfast of champions"
    assert p.codebook["happiness"].definition == "happiness"  # no description: the name
    assert set(users_by_name(p)) == {"ATLAS.ti", FRIEDRICH, "Sebastian Petrausch"}
    # "Mabêl 2ième.txt" is spelt decomposed (NFD) in the file; names are read as NFC
    assert {s.name for s in p.sources.values()} >= {"Mabel.txt", "Mabêl 2ième.txt", "Simon.docx"}
    assert all(s.text is None for s in p.sources.values())
    assert len(p.codings) == 7 and {p.users[c.user_guid] for c in p.codings} == {FRIEDRICH}
    for c in p.codings:
        print(c.start, c.end, c.code_id, repr(c.selection_name))
    # ATLAS.ti names a selection after its quoted text (shortened with "…"): where the quote is
    # whole, its length matches the offsets, so they count characters.
    spans = {c.selection_name: (c.start, c.end) for c in p.codings}
    for quote in ["Oh, that was great. See you tomorrow? Eleven thirty. Mm.",
                  "I did try the gluten free bread, but it was always so soggy,"]:
        start, end = spans[quote]
        assert end - start == len(quote)
    simon = [c for c in p.codings if c.start == 688]
    assert simon[0].description == "why does Simon feel the need to do this?"
    assert any("non-text sources" in n for n in p.notes)
    assert any("carry no code" in n for n in p.notes)  # a quotation with only a comment


def test_test_project_needs_its_text_files_by_default(refi):
    with pytest.raises(PrecodeInputError, match=r"TestProject\.qdpx: source '.*': its text file "
                                                r"sources/.*\.txt is missing"):
        read_qdpx(refi / "TestProject.qdpx")


def test_atlas_blank_and_target_projects_load(refi):
    blank = read_qdpx(refi / "blank-atlas-project.qdpx")
    assert blank.codebook is None and blank.codings == [] and len(blank.users) == 2
    with pytest.raises(PrecodeInputError, match="no codes"):
        read_qdpx_codebook(refi / "blank-atlas-project.qdpx")
    book = read_qdpx_codebook(refi / "target-atlas-project.qdpx")
    assert [c.id for c in book.roots()] == ["commits"]
    assert len(book.children("commits")) == 2
    assert book["commits"].guid == "A182CD3A-D83C-4D8C-BC80-26D9103EC6D6"


def test_read_qdpx_codings_on_test_project(refi):
    codings = read_qdpx_codings(refi / "TestProject.qdpx")
    assert list(codings) == [FRIEDRICH]
    units = codings[FRIEDRICH]
    assert units["Mabel.txt:0-410"] == {"bacon_and_eggs", "cornflakes", "happiness"}
    assert units["1994 Diet Coke-Diet Coke Break.docx:139-195"] == {"coke_diet_coke"}
    assert len(units) == 5


def test_project_excerpts_on_test_project(refi):
    p = read_qdpx(refi / "TestProject.qdpx", require_text=False)
    with pytest.raises(PrecodeInputError, match="no user 'Nobody'.*Friedrich Markgraf"):
        project_excerpts(p, coder="Nobody")
    with pytest.raises(PrecodeInputError, match="has no text"):
        project_excerpts(p, coder=FRIEDRICH)
    for source in p.sources.values():
        source.text = "abcdefghij" * 100  # stand-in texts for the missing files
    excerpts = project_excerpts(p, coder=FRIEDRICH)
    assert len(excerpts) == 5
    merged = next(e for e in excerpts if e.document == "Mabel.txt")
    assert merged.codes == ("bacon_and_eggs", "cornflakes", "happiness")
    assert (merged.start, merged.end, merged.coder) == (0, 410, FRIEDRICH)
    assert merged.text == ("abcdefghij" * 41)
    assert project_excerpts(p, coder="Sebastian Petrausch") == []


# ---- writing and reading back -----------------------------------------------------------------
def book() -> Codebook:
    return Codebook.from_codes([
        Code(id="t.feel", label="Feelings", definition="emotions", codable=False, color="#ff0000"),
        Code(id="t.feel.joy", label="Joy «ü»", definition="glad & happy", include="smiles",
             examples=["I laughed"]),
        Code(id="t.food", label="Food", definition="what people eat"),
    ], id="t")


TEXT_A = "Café “quoted” 😀 done.\r\nNext line: naïve 😀😀 end."
TEXT_B = "plain text\nsecond line"


def sample(tmp_path, **kw) -> Path:
    a_emoji = TEXT_A.index("😀")
    codings = [
        {"document": "a.txt", "start": 0, "end": 4, "codes": ["t.food"], "user": "Ana"},
        {"document": "a.txt", "start": 5, "end": a_emoji + 1, "codes": ["t.feel.joy", "t.food"],
         "user": "Ben", "description": "quote & smile\r\nnote <b>"},
        {"document": "a.txt", "start": TEXT_A.index("naïve"), "end": len(TEXT_A),
         "codes": ["t.feel.joy"], "user": "Ana"},
        {"document": "b.txt", "start": 6, "end": 15, "codes": ["t.food"], "user": "Ana"},
    ]
    return write_qdpx(tmp_path / "out.qdpx", codebook=book(),
                      documents=[("a.txt", TEXT_A), ("b.txt", TEXT_B)], codings=codings, **kw)


def test_round_trip_keeps_documents_codings_users_and_codebook(tmp_path):
    path = sample(tmp_path)
    p = read_qdpx(path)
    assert sorted(users_by_name(p)) == ["Ana", "Ben"]
    assert {s.name: s.text for s in p.sources.values()} == {"a.txt": TEXT_A, "b.txt": TEXT_B}
    assert [c.id for c in p.codebook] == ["t.feel", "t.feel.joy", "t.food"]
    joy = p.codebook["t.feel.joy"]
    assert (joy.label, joy.include, joy.examples, joy.color) == ("Joy «ü»", "smiles",
                                                                   ["I laughed"], None)
    assert p.codebook["t.feel"].codable is False and p.codebook["t.feel"].color == "#ff0000"
    excerpts = project_excerpts(p)
    got = [(e.document, e.start, e.end, e.coder, e.codes, e.text) for e in excerpts]
    emoji = TEXT_A.index("😀")
    assert got == [
        ("a.txt", 0, 4, "Ana", ("t.food",), "Café"),
        ("a.txt", 5, emoji + 1, "Ben", ("t.feel.joy", "t.food"), "“quoted” 😀"),
        ("a.txt", TEXT_A.index("naïve"), len(TEXT_A), "Ana", ("t.feel.joy",), "naïve 😀😀 end."),
        ("b.txt", 6, 15, "Ana", ("t.food",), "text\nseco"),
    ]
    ben = [c for c in p.codings if p.users[c.user_guid] == "Ben"]
    assert ben[0].description == "quote & smile\r\nnote <b>"
    assert read_qdpx_codings(path)["Ana"]["b.txt:6-15"] == {"t.food"}


def test_offsets_are_code_points_and_text_is_utf8(tmp_path):
    path = sample(tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "project.qde" and all(n.startswith("sources/") for n in names[1:])
        texts = {zf.read(n).decode("utf-8") for n in names[1:]}
        qde = zf.read("project.qde").decode("utf-8")
    assert TEXT_A in texts  # CRLF and the astral-plane emoji stored as they are
    # 😀 is one code point but two UTF-16 units: positions count code points
    end = TEXT_A.index("😀") + 1
    assert f'endPosition="{end}"' in qde
    assert len(TEXT_A[:end].encode("utf-16-le")) // 2 == end + 1


def test_written_project_validates_against_schema(tmp_path, refi):
    schema = xmlschema.XMLSchema(str(refi / "Project-mrt2019.xsd"))
    with zipfile.ZipFile(sample(tmp_path)) as zf:
        qde = zf.read("project.qde").decode("utf-8")
    schema.validate(qde)
    assert 'xmlns="urn:QDA-XML:project:1.0"' in qde and "<Code " in qde


def test_written_project_holds_together(tmp_path):
    """What a CAQDAS program needs to import a written project, checked without the schema
    file: every GUID well formed and unique, every <CodeRef> naming a code, every user
    reference naming a listed user, every source's text file inside the archive."""
    with zipfile.ZipFile(sample(tmp_path)) as zf:
        root = ET.fromstring(zf.read("project.qde"))
        entries = set(zf.namelist())
    q = f"{{{NS}}}"
    assert root.tag == f"{q}Project" and root.get("name") == "out"
    assert [child.tag for child in root] == [f"{q}Users", f"{q}CodeBook", f"{q}Sources"]
    guids = [el.get("guid") for el in root.iter() if el.get("guid") is not None]
    assert all(GUID.fullmatch(g) for g in guids) and len(guids) == len(set(guids))
    codes = {el.get("guid") for el in root.iter(f"{q}Code")}
    users = {el.get("guid") for el in root.iter(f"{q}User")}
    refs = [el.get("targetGUID") for el in root.iter(f"{q}CodeRef")]
    assert len(refs) == 5 and set(refs) <= codes
    creators = {el.get("creatingUser") for el in root.iter() if el.get("creatingUser")}
    assert creators == users and len(users) == 2
    for source in root.iter(f"{q}TextSource"):
        assert source.get("plainTextPath").replace("internal://", "sources/") in entries
        for sel in source.iter(f"{q}PlainTextSelection"):
            assert 0 <= int(sel.get("startPosition")) < int(sel.get("endPosition"))


def test_output_is_deterministic_and_atomic(tmp_path):
    first = sample(tmp_path).read_bytes()
    assert sample(tmp_path).read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["out.qdpx"]
    stamped = sample(tmp_path, created=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)).read_bytes()
    assert stamped != first
    with zipfile.ZipFile(tmp_path / "out.qdpx") as zf:
        assert 'creationDateTime="2024-05-06T07:08:09Z"' in zf.read("project.qde").decode()


@pytest.mark.parametrize("row, message", [
    ({"document": "zz", "start": 0, "end": 1, "codes": [], "user": "A"}, "unknown document"),
    ({"document": "b.txt", "start": 3, "end": 99, "codes": [], "user": "A"}, "bad span"),
    ({"document": "b.txt", "start": 0, "end": 1, "codes": ["nope"], "user": "A"}, "unknown code"),
    ({"document": "b.txt", "start": 0, "end": 1, "codes": []}, "missing user"),
])
def test_bad_codings_are_refused(tmp_path, row, message):
    with pytest.raises(PrecodeInputError, match=rf"out\.qdpx \[codings\[0\]\]: {message}"):
        write_qdpx(tmp_path / "out.qdpx", codebook=book(), documents=[("b.txt", TEXT_B)],
                   codings=[row])
    assert not (tmp_path / "out.qdpx").exists()


# ---- tolerance ------------------------------------------------------------------------------
def make_qdpx(tmp_path, body: str, files: dict[str, bytes] | None = None,
              qde_name: str = "project.qde", name: str = "p.qdpx") -> Path:
    qde = (f'<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="{NS}" name="x">'
           f"{body}</Project>")
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(qde_name, qde.encode("utf-8"))
        for entry, data in (files or {}).items():
            zf.writestr(entry, data)
    return path


U = "{AAAAAAAA-0000-0000-0000-000000000001}"
C = "{BBBBBBBB-0000-0000-0000-000000000001}"
TOLERANT = f"""
<Users><User guid="{U}" name="Zoë"/></Users>
<CodeBook><Codes><Code guid="{C}" name="Topic" isCodable="true"/></Codes></CodeBook>
<Sources>
 <TextSource guid="{{CCCCCCCC-0000-0000-0000-000000000001}}" name="file" plainTextPath="internal://t.txt">
  <PlainTextSelection guid="DDDDDDDD-0000-0000-0000-000000000001" startPosition="3" endPosition="3"
    creatingUser="{U}"><Coding guid="EEEEEEEE-0000-0000-0000-000000000001"><CodeRef
    targetGUID="{C}"/></Coding></PlainTextSelection>
  <PlainTextSelection guid="DDDDDDDD-0000-0000-0000-000000000002" startPosition="0" endPosition="4"
    creatingUser="{U}"><Coding guid="EEEEEEEE-0000-0000-0000-000000000002"
    creatingUser="{U.strip('{}').lower()}"><CodeRef targetGUID="{C.strip('{}').lower()}"/>
  </Coding></PlainTextSelection>
 </TextSource>
 <TextSource guid="CCCCCCCC-0000-0000-0000-000000000002" name="inline">
  <PlainTextContent>élan vital</PlainTextContent>
  <PlainTextSelection guid="DDDDDDDD-0000-0000-0000-000000000003" startPosition="0" endPosition="4">
   <Coding guid="EEEEEEEE-0000-0000-0000-000000000003" creatingUser="{U}"><CodeRef targetGUID="{C}"/>
   </Coding></PlainTextSelection>
 </TextSource>
</Sources>"""


def test_foreign_project_quirks_are_tolerated(tmp_path):
    path = make_qdpx(tmp_path, TOLERANT, {"Sources/t.txt": "\ufeffDéjà vu".encode()},
                     qde_name="Exported Project.qde")
    p = read_qdpx(path)
    assert p.skipped_empty == 1 and any("zero-length" in n for n in p.notes)
    assert p.codebook["topic"].color is None and p.codebook["topic"].definition == "Topic"
    assert users_by_name(p) == {"Zoë": "aaaaaaaa-0000-0000-0000-000000000001"}
    got = [(e.document, e.text, e.codes, e.coder) for e in project_excerpts(p, coder="Zoë")]
    assert got == [("file", "Déjà", ("topic",), "Zoë"), ("inline", "élan", ("topic",), "Zoë")]


def test_missing_text_file_names_the_source(tmp_path):
    path = make_qdpx(tmp_path, TOLERANT)
    with pytest.raises(PrecodeInputError, match=r"p\.qdpx: source 'file': its text file "
                                                r"sources/t\.txt is missing"):
        read_qdpx(path)


def test_selection_past_the_text_is_an_error(tmp_path):
    path = make_qdpx(tmp_path, TOLERANT, {"sources/t.txt": b"abc"})
    with pytest.raises(PrecodeInputError, match=r"p\.qdpx!project\.qde: file \[selection .*\]: "
                                                "endPosition 4 is past the end"):
        read_qdpx(path)


# ---- unsafe archives --------------------------------------------------------------------------
def zip_with(tmp_path, entries: dict[str, bytes]) -> Path:
    path = tmp_path / "bad.qdpx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


@pytest.mark.parametrize("entry", ["../evil.txt", "/etc/evil.txt", "sources/../../evil.txt",
                                   "C:/evil.txt"])
def test_entries_escaping_the_folder_are_refused(tmp_path, entry):
    path = zip_with(tmp_path, {"project.qde": b"<x/>", entry: b"boo"})
    with pytest.raises(PrecodeInputError, match=r"bad\.qdpx: refused unsafe archive: entry .*evil"):
        read_qdpx(path)


def test_zip_bomb_is_refused(tmp_path):
    path = zip_with(tmp_path, {"project.qde": b"<x/>", "sources/big.txt": b"0" * 2_000_000})
    assert path.stat().st_size < 20_000
    with pytest.raises(PrecodeInputError, match=r"bad\.qdpx: refused archive: .* over the limit"):
        read_qdpx(path, max_uncompressed=1_000_000)


def test_lying_size_header_is_caught_while_reading(tmp_path):
    body = f'<Project xmlns="{NS}" name="x">' + " " * 100_000 + "</Project>"
    path = zip_with(tmp_path, {"project.qde": body.encode()})
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24:central + 28] = (100).to_bytes(4, "little")  # declared size: 100 bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(PrecodeInputError, match=r"bad\.qdpx!project\.qde: corrupt"):
        read_qdpx(path, max_uncompressed=1000)


def test_external_entity_is_refused(tmp_path):
    qde = (b'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<Project xmlns="urn:QDA-XML:project:1.0" name="&x;"/>')
    path = zip_with(tmp_path, {"project.qde": qde})
    with pytest.raises(PrecodeInputError, match=r"bad\.qdpx!project\.qde: refused unsafe XML"):
        read_qdpx(path)


def test_not_a_zip_and_no_project_file(tmp_path):
    fake = tmp_path / "fake.qdpx"
    fake.write_text("hello")
    with pytest.raises(PrecodeInputError, match=r"fake\.qdpx: not a REFI-QDA project: not a zip"):
        read_qdpx(fake)
    with pytest.raises(PrecodeInputError, match="no project.qde"):
        read_qdpx(zip_with(tmp_path, {"readme.txt": b"hi"}))


def test_load_codebook_reads_qdpx(tmp_path):
    path = sample(tmp_path)
    assert [c.id for c in load_codebook(path)] == ["t.feel", "t.feel.joy", "t.food"]
