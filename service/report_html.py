"""The HTML report of ``precode code --format html``: one self-contained page to read offline.

The page has no external assets (inline CSS, a few lines of inline JavaScript that the page works
without, a Content-Security-Policy that forbids loading anything) and every piece of text from the
data is escaped. For each document a section lists its segments in order; suggested codes are
coloured tags (a stable colour per top-level code) with their confidence, and each tag opens, with
``<details>``, onto the code's definition and the nearest coded excerpts.

:func:`render_html` is pure (records in, text out, the same text for the same records);
:func:`write_html` is the writer ``precode code`` calls, with the signature of
:func:`service.batch.write_jsonl`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections import Counter
from html import escape
from pathlib import Path

# A suggestion whose confidence is less than this above its threshold is marked "near threshold".
NEAR_MARGIN = 0.10

# (strong, pale) pairs: the strong colour marks the tag's edge and swatch, the pale one fills it;
# tag text is always near-black on the pale fill (contrast above 12:1).
PALETTE: list[tuple[str, str]] = [
    ("#0072B2", "#DCEBF6"),  # blue
    ("#D55E00", "#FAE3D4"),  # vermillion
    ("#009E73", "#D6F0E7"),  # green
    ("#CC79A7", "#F6E4EF"),  # pink
    ("#E69F00", "#FCEFD2"),  # orange
    ("#56B4E9", "#E0F1FB"),  # sky
    ("#7A5195", "#ECE3F2"),  # purple
    ("#8C6D31", "#F0E9DA"),  # brown
    ("#2F7F7F", "#DCEBEB"),  # teal
    ("#A23B3B", "#F4DFDF"),  # brick
]

# The shipped codebooks' top-level codes get distinct colours; any other top-level code gets one
# from a hash of its id.
KNOWN_COLOURS = {
    "npt.coherence": 0,
    "npt.cognitive_participation": 1,
    "npt.collective_action": 2,
    "npt.reflexive_monitoring": 3,
    "integrating.engaging_groups": 4,
    "integrating.bridging_communication": 5,
    "integrating.sensemaking": 6,
    "integrating.negotiating": 7,
}

_HEX_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


# ---- colours and codes ------------------------------------------------------------------------
def top_level(code_id: str, codebook=None) -> str:
    """The top-level code a code belongs to: its root in the codebook when it is there, else the
    first two dotted parts of its id (``npt.coherence.differentiation`` -> ``npt.coherence``)."""
    if codebook is not None and code_id in codebook.codes:
        ancestors = codebook.ancestors(code_id)
        return ancestors[-1] if ancestors else code_id
    parts = code_id.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else code_id


def colour_of(top_id: str, codebook=None) -> tuple[str, str]:
    """(strong, pale) colour of a top-level code: the codebook's own ``color`` when it is a
    ``#rrggbb`` value, else the fixed colour of a shipped construct, else one picked by a hash of
    the id from :data:`PALETTE`."""
    if codebook is not None and top_id in codebook.codes:
        own = codebook.codes[top_id].color
        if isinstance(own, str) and _HEX_RE.match(own):
            return own, _pale(own)
    if top_id in KNOWN_COLOURS:
        return PALETTE[KNOWN_COLOURS[top_id]]
    digest = hashlib.sha256(top_id.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def _pale(hex_colour: str) -> str:
    """The colour mixed with 85 % white: a fill dark text stays readable on."""
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * 0.85):02X}" for c in rgb)


def _label(code_id: str, codebook=None, fallback: str | None = None) -> str:
    if codebook is not None and code_id in codebook.codes:
        return codebook.codes[code_id].label
    return fallback or code_id


def _full_label(code_id: str, codebook=None, fallback: str | None = None) -> str:
    """``Coherence: Differentiation`` for a sub-code when the codebook is known, else its label."""
    label = _label(code_id, codebook, fallback)
    top = top_level(code_id, codebook)
    if codebook is not None and top != code_id and top in codebook.codes:
        return f"{codebook.codes[top].label}: {label}"
    return label


def _pct(value) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "?"
    if math.isnan(v):
        return "?"
    return f"{round(v * 100)}%"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _num(value, default: float | None = None) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


# ---- the page ---------------------------------------------------------------------------------
CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  margin: 0; color: #1b1b1b; background: #fff; line-height: 1.5; }
main, header.page { max-width: 62rem; margin: 0 auto; padding: 0 1.25rem; }
header.page { padding-top: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0 0 .25rem; }
h2 { font-size: 1.35rem; margin: 2rem 0 .5rem; padding-bottom: .25rem; border-bottom: 2px solid #ddd; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
a { color: #0b57a4; }
a:focus, summary:focus, button:focus { outline: 3px solid #1b1b1b; outline-offset: 2px; }
.note { background: #fff8e1; border-left: 4px solid #b07d00; padding: .6rem .9rem; margin: 1rem 0; }
.note p { margin: .3rem 0; }
.note.caution { background: #fdecea; border-left-color: #b3261e; }
.empty { background: #f3f3f3; border-left: 4px solid #6b6b6b; padding: .6rem .9rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .75rem .25rem 0; border-bottom: 1px solid #e3e3e3;
  vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: .85em; color: #444; overflow-wrap: anywhere; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem; }
nav.toc ol { padding-left: 1.5rem; }
.tag { display: inline-flex; align-items: center; gap: .35rem; border: 2px solid var(--c);
  border-left-width: .6rem; background: var(--p); color: #1b1b1b; border-radius: .35rem;
  padding: .05rem .5rem; font-size: .9rem; }
.tag.near { border-style: dashed; border-left-style: solid; }
.tag .conf { font-weight: 700; font-variant-numeric: tabular-nums; }
.tag .cue { font-size: .8rem; font-style: italic; }
.segments { list-style: none; padding: 0; margin: 0; }
.seg { border-left: 4px solid #c9c9c9; padding: .5rem .9rem; margin: .6rem 0; background: #fff; }
.seg.has { border-left-color: #3a3a3a; }
.seg.muted { background: #f5f5f5; color: #4f4f4f; border-left-color: #e0e0e0; }
.seg .meta { font-size: .85rem; color: #555; }
.seg .meta .who { font-weight: 700; color: #1b1b1b; }
.seg.muted .meta .who { color: #4f4f4f; }
.seg .asked { margin: .2rem 0; color: #4f4f4f; font-style: italic; }
.seg .asked .label { font-style: normal; font-weight: 600; }
.seg .status { font-size: .8rem; border: 1px solid #8a8a8a; border-radius: .25rem; padding: 0 .3rem;
  margin-left: .4rem; }
.seg .text { white-space: pre-wrap; margin: .25rem 0 .4rem; overflow-wrap: anywhere; }
.suggestions { display: flex; flex-wrap: wrap; gap: .4rem; align-items: flex-start; }
.suggestions > details { flex: 0 0 auto; }
.suggestions > details[open] { flex-basis: 100%; }
details.sugg > summary { list-style: none; cursor: pointer; }
details.sugg > summary::-webkit-details-marker { display: none; }
details.sugg > summary .tag::after { content: "\\25B8"; font-size: .75rem; }
details.sugg[open] > summary .tag::after { content: "\\25BE"; }
.evidence { border: 1px solid #d6d6d6; border-left: 4px solid var(--c); border-radius: .35rem;
  padding: .5rem .9rem; margin-top: .35rem; background: #fcfcfc; }
.evidence p { margin: .3rem 0; }
.evidence ol { padding-left: 1.3rem; margin: .3rem 0; }
.evidence li { margin: .4rem 0; }
.evidence blockquote { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.evidence .ev-meta { font-size: .85rem; color: #4a4a4a; }
.mini { font-size: .8rem; padding: 0 .35rem; border-left-width: .35rem; }
.none { font-size: .85rem; color: #555; font-style: italic; }
details.scores { font-size: .85rem; margin-top: .3rem; }
details.scores summary { cursor: pointer; color: #444; }
.tools { margin: .5rem 0; }
.tools button { font: inherit; font-size: .9rem; padding: .2rem .7rem; margin-right: .4rem;
  border: 1px solid #6b6b6b; border-radius: .3rem; background: #f4f4f4; color: #1b1b1b;
  cursor: pointer; }
.top { font-size: .85rem; }
footer { max-width: 62rem; margin: 2rem auto; padding: 0 1.25rem; font-size: .85rem; color: #555; }
@media print { .tools, .top { display: none; } .seg { break-inside: avoid; } }
"""

# Opens or closes every evidence panel; the page works the same without it.
JS = """
document.querySelectorAll(".tools").forEach(function (t) { t.hidden = false; });
document.querySelectorAll("[data-evidence]").forEach(function (b) {
  b.addEventListener("click", function () {
    var open = b.getAttribute("data-evidence") === "open";
    document.querySelectorAll("details.sugg").forEach(function (d) { d.open = open; });
  });
});
"""


def _script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()


def _group(records: list[dict]) -> list[tuple[str, list[dict]]]:
    """Records by document, documents in order of first appearance, segments in input order."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(str(r.get("document", "")), []).append(r)
    return list(groups.items())


def _tag(code_id: str, text: str, codebook=None, *, extra: str = "", cls: str = "") -> str:
    strong, pale = colour_of(top_level(code_id, codebook), codebook)
    return (f'<span class="tag{" " + cls if cls else ""}" style="--c:{strong};--p:{pale}" '
            f'title="{escape(code_id)}"><span>{escape(text)}</span>{extra}</span>')


def _suggestion(s: dict, codebook=None) -> str:
    code = str(s.get("code", ""))
    label = _full_label(code, codebook, s.get("label"))
    conf = _num(s.get("confidence"))
    thr = _num(s.get("threshold"))
    near = conf is not None and thr is not None and conf - thr < NEAR_MARGIN
    below = conf is not None and thr is not None and conf < thr
    cue = ""
    if below:
        cue = '<span class="cue">below threshold</span>'
    elif near:
        cue = '<span class="cue">&#8776; near threshold</span>'
    conf_text = f'<span class="conf">{_pct(conf)}</span>'
    tag = _tag(code, label, codebook, extra=conf_text + cue, cls="near" if near else "")
    strong, pale = colour_of(top_level(code, codebook), codebook)

    parts = [f'<div class="evidence" style="--c:{strong};--p:{pale}">',
             f'<p><strong>{escape(label)}</strong> <code>{escape(code)}</code></p>']
    thr_text = f" (threshold {_pct(thr)})" if thr is not None else ""
    parts.append(f"<p>Confidence {_pct(conf)}{thr_text}.</p>")
    definition = s.get("definition") or (codebook.codes[code].definition
                                         if codebook is not None and code in codebook.codes else "")
    if definition:
        parts.append(f"<p><strong>Definition:</strong> {escape(str(definition))}</p>")
    evidence = s.get("evidence") or []
    if evidence:
        parts.append("<p><strong>Nearest coded excerpts:</strong></p><ol>")
        for ev in evidence:
            sim = _num(ev.get("similarity"))
            sim_text = f"similarity {sim:.2f}" if sim is not None else "similarity ?"
            ev_codes = [str(c) for c in ev.get("codes") or []]
            code_tags = " ".join(_tag(c, _label(c, codebook), codebook, cls="mini") for c in ev_codes)
            ev_id = f" &middot; <code>{escape(str(ev['id']))}</code>" if ev.get("id") else ""
            coded = f" &middot; coded {code_tags}" if ev_codes else " &middot; coded with no code"
            parts.append(f'<li><blockquote>{escape(str(ev.get("text", "")))}</blockquote>'
                         f'<span class="ev-meta">{sim_text}{coded}{ev_id}</span></li>')
        parts.append("</ol>")
    else:
        parts.append('<p class="none">No coded excerpts were given as evidence.</p>')
    parts.append("</div>")
    return (f'<details class="sugg"><summary>{tag}</summary>{"".join(parts)}</details>')


def _questions_not_shown(recs: list[dict]) -> dict[int, str]:
    """The question each record answers (its ``context``) where the page does not already show
    it as the interviewer turn just before: a segment table's own questions. Keys: positions."""
    out, last = {}, None
    for k, r in enumerate(recs):
        if r.get("interviewer"):
            last = r.get("text")
            continue
        context = r.get("context")
        if context and context != last:
            out[k] = context
    return out


def _segment(r: dict, anchor: str, codebook=None, asked: str | None = None) -> str:
    interviewer = bool(r.get("interviewer"))
    coded = bool(r.get("coded", True))
    suggestions = r.get("suggestions") or []
    classes = ["seg"]
    if interviewer or not coded:
        classes.append("muted")
    if suggestions:
        classes.append("has")
    speaker = r.get("speaker")
    who = escape(str(speaker)) if speaker else "(no speaker)"
    status = []
    if interviewer:
        status.append('<span class="status">interviewer</span>')
    if not coded:
        status.append('<span class="status">not coded</span>')
    where = ""
    if r.get("start") is not None and r.get("end") is not None:
        where = f" &middot; characters {escape(str(r['start']))}&ndash;{escape(str(r['end']))}"
    seg_id = f" &middot; <code>{escape(str(r['segment_id']))}</code>" if r.get("segment_id") else ""
    out = [f'<li class="{" ".join(classes)}" id="{anchor}">',
           f'<div class="meta"><span class="who">{who}</span>{"".join(status)}{where}{seg_id}</div>',
           *([f'<p class="asked"><span class="label">Answering:</span> {escape(asked)}</p>']
             if asked else []),
           f'<p class="text">{escape(str(r.get("text", "")))}</p>']
    if suggestions:
        out.append('<div class="suggestions">')
        out.extend(_suggestion(s, codebook) for s in suggestions)
        out.append("</div>")
    elif coded:
        out.append('<p class="none">No code suggested.</p>')
    scores = r.get("scores")
    if scores:
        ranked = sorted(scores.items(), key=lambda kv: (-(_num(kv[1], 0.0) or 0.0), kv[0]))
        rows = "".join(f'<tr><td>{escape(_full_label(str(c), codebook))} <code>{escape(str(c))}'
                       f'</code></td><td class="n">{_pct(v)}</td></tr>' for c, v in ranked)
        out.append(f'<details class="scores"><summary>All scores ({len(ranked)} codes)</summary>'
                   f'<table><thead><tr><th scope="col">code</th><th scope="col" class="n">'
                   f'confidence</th></tr></thead><tbody>{rows}</tbody></table></details>')
    out.append("</li>")
    return "".join(out)


def _legend(records: list[dict], codebook=None) -> str:
    if codebook is not None:
        tops = [c.id for c in codebook.roots()]
    else:
        seen: dict[str, None] = {}
        for r in records:
            for s in r.get("suggestions") or []:
                seen.setdefault(top_level(str(s.get("code", ""))), None)
        tops = sorted(seen)
    if not tops:
        return ""
    items = "".join(f"<li>{_tag(t, _label(t, codebook), codebook)}</li>" for t in tops)
    what = f" ({escape(codebook.label)})" if codebook is not None else ""
    return (f'<h3 id="legend">Colours of the top-level codes{what}</h3>'
            f'<ul class="legend">{items}</ul>')


def _model_info(model_info: dict | None) -> str:
    if not model_info:
        return ""
    rows = []
    for key, value in model_info.items():
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                sort_keys=True)
        rows.append(f"<dt>{escape(str(key))}</dt><dd>{escape(text)}</dd>")
    if not rows:
        return ""
    return f'<h3 id="model">Model</h3><dl class="facts">{"".join(rows)}</dl>'


def render_html(records: list[dict], *, codebook=None, title: str = "precode suggestions",
                model_info: dict | None = None, confidence: dict | None = None) -> str:
    """The whole report as one self-contained HTML page.

    ``records`` are the per-segment records of ``precode code`` in document order; ``codebook`` (a
    :class:`corpus.codebook.Codebook`) adds construct names and a colour legend; ``model_info`` is
    shown as label/value pairs; ``confidence`` (``models.model_card.confidence_basis``) says what
    the model's confidences were measured on, and cautions where they do not hold.
    """
    groups = _group(records)
    n_segments = len(records)
    n_coded = sum(1 for r in records if r.get("coded", True))
    n_with = sum(1 for r in records if r.get("suggestions"))
    per_code: Counter = Counter()
    labels: dict[str, str] = {}
    for r in records:
        for s in r.get("suggestions") or []:
            code = str(s.get("code", ""))
            per_code[code] += 1
            labels.setdefault(code, _full_label(code, codebook, s.get("label")))

    body: list[str] = []
    body.append(f'<header class="page"><h1>{escape(title)}</h1>'
                f"<p>Codes suggested by precode for each segment of the transcripts below.</p>"
                f"</header><main>")
    body.append('<section aria-labelledby="summary"><h2 id="summary">Summary</h2>')
    measured_on = _inline_code(escape((confidence or {}).get("measured_on")
                                      or "held-out coded data that the model was not trained on"))
    caution = (confidence or {}).get("caution")
    body.append('<div class="note" role="note">'
                "<p><strong>These are suggestions, not codings.</strong> A person accepts or rejects "
                "each one; nothing here has been checked by a human.</p>"
                "<p><strong>Confidence is calibrated:</strong> of the suggestions given at 70%, "
                f"about 7 in 10 were right on {measured_on}. "
                "A code is suggested when its confidence reaches the code's own threshold; a "
                "dashed outline and &#8776; mark a suggestion less than "
                f"{round(NEAR_MARGIN * 100)} points above it, worth a closer look.</p>"
                "<p>Click a tag to see why: the code's definition and the nearest already-coded "
                "excerpts.</p></div>")
    if caution:
        body.append('<div class="note caution" role="note"><p><strong>On real interview '
                    f"speech:</strong> {_inline_code(escape(caution))}</p></div>")
    body.append('<dl class="facts">'
                f"<dt>Documents</dt><dd>{len(groups)}</dd>"
                f"<dt>Segments</dt><dd>{n_segments}</dd>"
                f"<dt>Segments coded</dt><dd>{n_coded} (interviewer turns are shown but not "
                "coded unless asked)</dd>"
                f"<dt>Segments with a suggestion</dt><dd>{n_with}</dd>"
                f"<dt>Suggestions</dt><dd>{sum(per_code.values())}</dd></dl>")
    if not records:
        body.append('<p class="empty">Nothing was coded: there were no segments.</p>')
    elif not per_code:
        body.append('<p class="empty">Nothing was coded: no code was suggested for any '
                    "segment.</p>")
    else:
        rows = "".join(
            f'<tr><td>{_tag(code, labels[code], codebook)}</td><td><code>{escape(code)}</code></td>'
            f'<td class="n">{count}</td></tr>'
            for code, count in sorted(per_code.items(), key=lambda kv: (-kv[1], kv[0])))
        body.append('<h3 id="per-code">Suggestions per code</h3>'
                    '<table><thead><tr><th scope="col">code</th><th scope="col">id</th>'
                    f'<th scope="col" class="n">segments</th></tr></thead><tbody>{rows}</tbody>'
                    "</table>")
    body.append(_legend(records, codebook))
    body.append(_model_info(model_info))
    body.append("</section>")

    if len(groups) > 1:
        items = "".join(
            f'<li><a href="#doc-{i}">{escape(doc) or "(unnamed)"}</a> &middot; '
            f'{_count(len(recs), "segment")}, '
            f'{sum(1 for r in recs if r.get("suggestions"))} with a suggestion</li>'
            for i, (doc, recs) in enumerate(groups, 1))
        body.append('<nav class="toc" aria-labelledby="toc"><h2 id="toc">Documents</h2>'
                    f"<ol>{items}</ol></nav>")
    if any(r.get("suggestions") for r in records):
        body.append('<div class="tools" hidden><button type="button" data-evidence="open">'
                    'Open all evidence</button><button type="button" data-evidence="close">'
                    "Close all evidence</button></div>")

    for i, (doc, recs) in enumerate(groups, 1):
        n_doc_with = sum(1 for r in recs if r.get("suggestions"))
        body.append(f'<section class="doc" aria-labelledby="doc-{i}">'
                    f'<h2 id="doc-{i}">{escape(doc) or "(unnamed)"}</h2>'
                    f'<p>{_count(len(recs), "segment")}, {n_doc_with} with a suggestion.</p>'
                    '<ol class="segments">')
        shown = _questions_not_shown(recs)
        body.extend(_segment(r, f"doc-{i}-seg-{j}", codebook, asked=shown.get(j - 1))
                    for j, r in enumerate(recs, 1))
        body.append('</ol><p class="top"><a href="#summary">Back to the summary</a></p></section>')
    body.append("</main><footer><p>Made by precode on this computer; the page loads nothing from "
                "the network.</p></footer>")

    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{_script_hash(JS)}'; "
           "img-src 'none'; form-action 'none'; base-uri 'none'")
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="generator" content="precode">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(part for part in body if part)
            + f"\n<script>{JS}</script>\n</body>\n</html>\n")


def model_info_of(suggester) -> dict:
    """What the report says about the model: its folder and the manifest's main facts."""
    manifest = getattr(suggester, "manifest", None) or {}
    info: dict = {}
    path = getattr(suggester, "path", None)
    if path is not None:
        info["Model folder"] = str(path)
    for key, label in (("codebook", "Codebook"), ("training_data_hash", "Training data hash"),
                       ("n_excerpts", "Coded excerpts trained on"), ("base_model", "Base encoder"),
                       ("precode_version", "precode version"), ("seed", "Seed")):
        if manifest.get(key) not in (None, ""):
            info[label] = manifest[key]
    return info


def confidence_of(suggester) -> dict | None:
    """What the model's confidences were measured on (``models.suggester.confidence_basis_of``);
    ``suggester`` loaded, or a model directory (the Ray engine's)."""
    from models.suggester import Suggester, confidence_basis_of, is_model_dir

    if isinstance(suggester, Suggester) or (isinstance(suggester, (str, Path))
                                            and is_model_dir(suggester)):
        return confidence_basis_of(suggester)
    return None


def _inline_code(html: str) -> str:
    """`name` in an escaped sentence shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html)


def write_html(records: list[dict], out: Path, suggester=None, **_) -> None:
    """Write the report to ``out`` (through a temporary file, renamed when complete)."""
    out = Path(out)
    codebook = getattr(suggester, "codebook", None) if suggester is not None else None
    info = model_info_of(suggester) if suggester is not None else None
    page = render_html(records, codebook=codebook, model_info=info,
                       confidence=confidence_of(suggester))
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()
