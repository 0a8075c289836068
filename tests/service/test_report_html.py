"""The HTML report of ``precode code --format html``, from hand-made records (no model needed)."""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.report_html import colour_of, render_html, top_level, write_html

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Checker(HTMLParser):
    """Collects tags and checks that every non-void element is closed in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.starts: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.starts.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Checker:
    assert page.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, checker.stack
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    return checker


def evidence(text, codes, sim, id=None):
    return {"text": text, "codes": codes, "similarity": sim, "id": id}


def suggestion(code, label, conf, thr=0.5, definition="A definition.", ev=None):
    return {"code": code, "label": label, "confidence": conf, "threshold": thr,
            "definition": definition, "evidence": ev or []}


def record(document, n, text, *, speaker="P1", interviewer=False, coded=None, suggestions=()):
    return {"document": document, "segment_id": f"{document}#{n}", "start": n * 100,
            "end": n * 100 + len(text), "speaker": speaker, "text": text,
            "interviewer": interviewer, "coded": (not interviewer) if coded is None else coded,
            "suggestions": list(suggestions)}


@pytest.fixture
def records():
    return [
        record("a.txt", 0, "So how did the new clinic start?", speaker="Interviewer",
               interviewer=True),
        record("a.txt", 1, "At first none of us knew what it was for & why.", suggestions=[
            suggestion("npt.coherence.differentiation", "Differentiation", 0.83, 0.4,
                       definition="Working out how the new practice is different.",
                       ev=[evidence("It's not just another form.", ["npt.coherence.differentiation"],
                                    0.912, "ex-17"),
                           evidence("We argued \"about\" rotas <again>.",
                                    ["integrating.negotiating", "npt.collective_action"], 0.55)]),
            suggestion("integrating.sensemaking", "Sensemaking", 0.62, 0.58),
        ]),
        record("a.txt", 2, "<script>alert(1)</script> & 'quotes' \"double\""),
        record("b.vtt", 0, "We split the rota with ward 4.", speaker=None, suggestions=[
            suggestion("integrating.negotiating", "Negotiating", 0.71, 0.5,
                       ev=[evidence("We swapped shifts.", [], 0.4)]),
        ]),
    ]


def test_page_is_well_formed_with_lang_and_headings(records):
    page = render_html(records)
    checker = parse(page)
    html_tag = next(a for t, a in checker.starts if t == "html")
    assert html_tag.get("lang") == "en"
    tags = [t for t, _ in checker.starts]
    assert "h1" in tags and "h2" in tags and "title" in tags
    assert '<meta charset="utf-8">' in page


def test_text_from_data_is_escaped(records):
    page = render_html(records, title="Report <b>&</b>")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&amp; &#x27;quotes&#x27; &quot;double&quot;" in page
    assert "what it was for &amp; why." in page
    assert "We argued &quot;about&quot; rotas &lt;again&gt;." in page
    assert "<title>Report &lt;b&gt;&amp;&lt;/b&gt;</title>" in page
    # the only script element is the page's own one, at the end
    assert page.count("<script") == 1
    assert page.rstrip().endswith("</script>\n</body>\n</html>".rstrip())


def test_nothing_is_loaded_from_anywhere(records):
    page = render_html(records, model_info={"Model folder": "/models/m1"})
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(link|img|iframe|object|embed)\b", page)
    assert "src=" not in page and "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page


def test_every_segment_text_and_speaker_appears_in_order(records):
    page = render_html(records)
    positions = [page.index(escape(r["text"])) for r in records]
    assert positions == sorted(positions)
    assert "Interviewer" in page and "P1" in page and "(no speaker)" in page


def test_codes_labels_and_confidences_are_shown(records):
    page = render_html(records)
    for label, pct in (("Differentiation", "83%"), ("Sensemaking", "62%"), ("Negotiating", "71%")):
        assert re.search(rf"<span>{label}</span><span class=\"conf\">{pct}</span>", page), label
    # the per-code counts of the summary, sorted by count then id
    table = page[page.index('id="per-code"'):]
    order = [table.index(c) for c in ("integrating.negotiating", "integrating.sensemaking",
                                      "npt.coherence.differentiation")]
    assert order == sorted(order)
    assert "Documents</dt><dd>2" in page and "Segments</dt><dd>4" in page
    assert "Segments with a suggestion</dt><dd>2" in page
    assert "7 in 10" in page and "suggestions" in page.lower() and "accept" in page


def test_near_threshold_has_a_cue_that_is_not_only_colour(records):
    page = render_html(records)
    # Sensemaking: 0.62 against 0.58 is near; Differentiation: 0.83 against 0.40 is not
    summaries = dict(
        (re.search(r"<span>([^<]+)</span>", s).group(1), s)
        for s in re.findall(r'<details class="sugg"><summary>(.*?)</summary>', page, re.S))
    assert 'class="tag near"' in summaries["Sensemaking"]
    assert "near threshold" in summaries["Sensemaking"]
    assert "near" not in summaries["Differentiation"]
    assert "near" not in summaries["Negotiating"]


def test_evidence_is_inside_details(records):
    page = render_html(records)
    blocks = re.findall(r"<details class=\"sugg\"><summary>(.*?)</summary>(.*?)</details>", page,
                        re.S)
    assert len(blocks) == 3
    summary, body = blocks[0]
    assert "Differentiation" in summary
    assert "Working out how the new practice is different." in body
    assert "It&#x27;s not just another form." in body and "similarity 0.91" in body
    assert "integrating.negotiating" in body and "ex-17" in body
    assert "threshold 40%" in body
    assert "coded with no code" in blocks[2][1]


def test_interviewer_and_uncoded_segments_are_muted(records):
    page = render_html(records)
    first = re.search(r'<li class="([^"]*)" id="doc-1-seg-1">', page)
    assert first and "muted" in first.group(1).split()
    assert '<span class="status">interviewer</span>' in page
    assert '<span class="status">not coded</span>' in page
    for anchor in ("doc-1-seg-2", "doc-1-seg-3", "doc-2-seg-1"):
        cls = re.search(rf'<li class="([^"]*)" id="{anchor}">', page).group(1)
        assert "muted" not in cls.split()


def test_several_documents_get_a_table_of_contents(records):
    page = render_html(records)
    checker = parse(page)
    toc = page[page.index('<nav class="toc"'):page.index("</nav>")]
    assert '<a href="#doc-1">a.txt</a>' in toc and '<a href="#doc-2">b.vtt</a>' in toc
    assert {"doc-1", "doc-2"} <= set(checker.ids)
    one = render_html(records[:3])
    assert '<nav class="toc"' not in one


def test_documents_keep_their_first_appearance_order():
    recs = [record("z.txt", 0, "zed one"), record("a.txt", 0, "ay one"), record("z.txt", 1, "zed two")]
    page = render_html(recs)
    assert page.index(">z.txt</h2>") < page.index(">a.txt</h2>")
    assert page.index("zed two") < page.index(">a.txt</h2>")


def test_empty_records_give_a_valid_page_saying_nothing_was_coded():
    page = render_html([])
    parse(page)
    assert "Nothing was coded" in page
    assert "Documents</dt><dd>0" in page
    nothing = render_html([record("a.txt", 0, "Hello.")])
    parse(nothing)
    assert "no code was suggested" in nothing


def test_colours_are_stable_per_top_level_code(npt_integrating):
    assert top_level("npt.coherence.differentiation") == "npt.coherence"
    assert top_level("integrating.sensemaking") == "integrating.sensemaking"
    assert top_level("npt.coherence.differentiation", npt_integrating) == "npt.coherence"
    roots = [c.id for c in npt_integrating.roots()]
    colours = [colour_of(r, npt_integrating) for r in roots]
    assert len(set(colours)) == len(roots) == 8
    assert colour_of("custom.thing") == colour_of("custom.thing")
    page = render_html([record("a.txt", 0, "x", suggestions=[
        suggestion("npt.coherence.differentiation", "Differentiation", 0.9),
        suggestion("npt.coherence", "Coherence", 0.9)])])
    styles = re.findall(r'<span class="tag[^"]*" style="([^"]+)" title="npt\.coherence[^"]*">', page)
    assert len(set(styles)) == 1


def test_codebook_adds_legend_and_construct_names(records, npt_integrating):
    page = render_html(records, codebook=npt_integrating,
                       model_info={"Codebook": "npt+integrating", "Training data hash": "abc123"})
    parse(page)
    assert "Coherence: Differentiation" in page
    legend = page[page.index('id="legend"'):page.index("</ul>", page.index('id="legend"'))]
    for root in npt_integrating.roots():
        assert escape(root.label) in legend
    assert "abc123" in page


def test_write_html_writes_atomically(tmp_path, records, npt_integrating):
    out = tmp_path / "report.html"
    suggester = SimpleNamespace(codebook=npt_integrating, path=Path("/models/m1"),
                                manifest={"training_data_hash": "deadbeef", "codebook": "npt+integrating"})
    write_html(records, out, suggester)
    page = out.read_text(encoding="utf-8")
    parse(page)
    assert "deadbeef" in page and "Coherence: Differentiation" in page
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    write_html([], out)  # no suggester: still a page
    assert "Nothing was coded" in out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_render_is_deterministic(records):
    assert render_html(records) == render_html(records)


def test_an_answers_question_is_shown_where_no_interviewer_turn_shows_it(records):
    """A segment table's answers show the question each answers; a transcript's answers do not
    repeat the interviewer turn printed just above them."""
    table = [dict(record("survey.csv", 0, "Yes, for most of them."),
                  context="Do you use the same password on more than one website?"),
             dict(record("survey.csv", 1, "No, never."),
                  context="Do you write your passwords down anywhere?")]
    page = render_html(table)
    parse(page)
    assert page.count('class="asked"') == 2
    assert "Do you write your passwords down anywhere?" in page
    transcript = [dict(r, context=records[0]["text"]) if not r["interviewer"] else r
                  for r in records[:2]]
    assert 'class="asked"' not in render_html(transcript)
