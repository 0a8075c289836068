"""Agreement reports for people: a plain-text table for the terminal and a self-contained HTML page
(inline CSS and SVG, no scripts, nothing fetched), for the dicts of
:func:`eval.agreement_report.agreement_report` and :func:`eval.spans.span_report`."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_html", "render_table"]

MODEL = "model"
STAT_NAMES = {
    "percent_agreement": "percent agreement",
    "cohen_kappa": "Cohen's kappa",
    "scott_pi": "Scott's pi",
    "fleiss_kappa": "Fleiss' kappa",
    "conger_kappa": "Conger's (Hubert's) kappa",
    "light_kappa": "Light's kappa",
    "brennan_prediger": "Bennett-Brennan-Prediger S (= Randolph's free-marginal kappa)",
    "gwet_ac1": "Gwet's AC1",
    "krippendorff_alpha": "Krippendorff's alpha",
    "krippendorff_alpha_pooled": "Krippendorff's alpha, pooled over (unit, code)",
}
KAPPA_COLOR, ALPHA_COLOR = "#1f6fb2", "#c2571a"

Section = tuple[str, list[str], list[list[str]]]


# --------------------------------------------------------------------------- formatting


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _value(stat: Any) -> float | None:
    return stat.get("value") if isinstance(stat, dict) else stat


def _interval(stat: Any) -> list | None:
    ci = stat.get("ci") if isinstance(stat, dict) else None
    return ci if ci and ci[0] is not None else None


def _ci(stat: Any) -> str:
    ci = _interval(stat)
    if ci:
        return f"[{_num(ci[0])}, {_num(ci[1])}]"
    note = stat.get("ci_note") if isinstance(stat, dict) else None
    return "too few units" if note and note.startswith("too few") else "none" if note else ""


def _code(code: str, entry: dict | None = None, labels: dict | None = None) -> str:
    """A code as "label (id)", or the id where the label is the id."""
    label = (entry or {}).get("label") or (labels or {}).get(code) or code
    return code if label == code else f"{label} ({code})"


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _kappa_key(entry: dict) -> str:
    return "cohen_kappa" if "cohen_kappa" in entry else "fleiss_kappa"


# --------------------------------------------------------------------------- sections


def _header(report: dict) -> str:
    if report.get("kind") == "spans":
        return (f"Span agreement: {report['n_coders']} coders ({', '.join(report['coders'])}), "
                f"{len(report['documents'])} document(s), minimum overlap "
                f"{report['min_overlap']:.0%}")
    return (f"Inter-rater agreement: {report['n_units']} units ({report['n_units_compared']} "
            f"compared), {report['n_coders']} coders ({', '.join(report['coders'])}), mode "
            f"{report['mode']}" + (f", alpha level {report['level']}"
                                   if report["mode"] == "nominal" else ""))


def _overall_section(report: dict) -> Section:
    overall = report["overall"]
    rows = [[name, _num(_value(overall[key])), _ci(overall[key]),
             overall["interpretation"].get(key, "")]
            for key, name in STAT_NAMES.items() if key in overall]
    title = "Overall"
    if report["mode"] == "multilabel":
        title += (f" (mean over {overall['n_codes']} codes; the pooled alpha takes every "
                  "(unit, code) decision at once)")
    return title, ["statistic", "value", "95% CI", "interpretation"], rows


def _codes_section(title: str, entries: dict) -> Section:
    if not entries:
        return title, [], []
    kappa = _kappa_key(next(iter(entries.values())))
    headers = ["code", "units", "n+", "prevalence", "% agree", STAT_NAMES[kappa], "95% CI",
               "band", "alpha", "95% CI", "band", "note"]
    rows = [[_code(code, e), str(e["n_units"]), str(e["n_positive"]), _num(e["prevalence"], 2),
             _num(e["percent_agreement"]), _num(_value(e[kappa])), _ci(e[kappa]),
             e["interpretation"][kappa], _num(_value(e["krippendorff_alpha"])),
             _ci(e["krippendorff_alpha"]), e["interpretation"]["krippendorff_alpha"],
             "few cases" if "warning" in e else ""]
            for code, e in entries.items()]
    return title, headers, rows


def _pairs_section(title: str, pairs: dict) -> Section:
    headers = ["coders", "units", "% agree", "Cohen's kappa", "95% CI", "band", "alpha", "band"]
    rows = [[name.replace("|", " vs "), str(p["n_units"]), _num(p["percent_agreement"]),
             _num(_value(p["cohen_kappa"])), _ci(p["cohen_kappa"]),
             p["interpretation"]["cohen_kappa"], _num(_value(p["krippendorff_alpha"])),
             p["interpretation"]["krippendorff_alpha"]] for name, p in pairs.items()]
    return title, headers, rows


def _span_sections(report: dict) -> list[Section]:
    out = []
    for pair, result in report["pairs"].items():
        a, b = pair.split("|")
        rows = []
        for code, entry in result["character"].items():
            for document, e in [*entry["documents"].items(), ("all documents",
                                                               entry["all_documents"])]:
                rows.append([_code(code, labels=report.get("labels")), document,
                             str(e["all_text"]["n_characters"]),
                             _num(e["all_text"]["percent_agreement"]),
                             _num(_value(e["all_text"]["cohen_kappa"])),
                             str(e["excluding_uncoded_text"]["n_characters"]),
                             _num(e["excluding_uncoded_text"]["percent_agreement"]),
                             _num(_value(e["excluding_uncoded_text"]["cohen_kappa"]))])
        out.append((f"{a} vs {b}: character level (NVivo coding comparison)",
                    ["code", "document", "chars", "% agree (all text)", "kappa (all text)",
                     "coded chars", "% agree (excluding uncoded text)",
                     "kappa (excluding uncoded text)"], rows))
        seg = result["segments"]
        rows = [[_code(code, labels=report.get("labels")), str(c["a_segments"]),
                 str(c["b_segments"]), str(c["agreements"]),
                 str(c["disagreements"]), _num(c["percent_agreement"]), ""]
                for code, c in [*seg["codes"].items(), ("all codes", seg["total"])]]
        rows[-1][-1] = _num(seg["total"]["kappa"])
        out.append((f"{a} vs {b}: segment level (MAXQDA, overlap >= "
                    f"{report['min_overlap']:.0%} of the union)",
                    ["code", f"{a} segments", f"{b} segments", "agreements", "disagreements",
                     "% agree", "kappa (Brennan & Prediger, 1/q)"], rows))
    return out


def _u_alpha_section(report: dict) -> Section:
    u = report.get("u_alpha")
    if not u:
        return "", [], []
    rows = [[_code(code, labels=report.get("labels")), str(c["n_units"]), _num(c["D_o"], 5),
             _num(c["D_e"], 5), _num(c["alpha"])] for code, c in u["categories"].items()]
    rows.append(["all codes", str(sum(c["n_units"] for c in u["categories"].values())),
                 _num(u["D_o"], 5), _num(u["D_e"], 5), _num(u["alpha"])])
    return (f"Unitizing alpha, all {u['n_coders']} coders (Krippendorff 2004; documents end to "
            "end)", ["code", "units", "D_o", "D_e", "u-alpha"], rows)


def _notes(report: dict) -> list[str]:
    """The formula of every statistic shown, how intervals are made, how codes were compared."""
    notes = [f"{STAT_NAMES.get(k, k)}: {v}" for k, v in report.get("formulas", {}).items()]
    if report.get("ci_method"):
        notes.append(f"intervals: {report['ci_method']}")
    if report.get("hierarchy_note"):
        notes.append(f"codes compared: {report['hierarchy_note']}")
    return notes


def _split_pairs(pairs: dict) -> tuple[dict, dict]:
    with_model = {k: v for k, v in pairs.items() if MODEL in k.split("|")}
    return {k: v for k, v in pairs.items() if k not in with_model}, with_model


# --------------------------------------------------------------------------- plain text


def _grid(section: Section) -> str:
    title, headers, rows = section
    if not rows:
        return ""
    rows = [[_short(str(c)) for c in r] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(headers, *rows, strict=True)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([title, line(headers), line(["-" * w for w in widths]),
                      *map(line, rows)]) + "\n"


def render_table(report: dict) -> str:
    """The report as plain text for a terminal."""
    parts = [_header(report) + "\n"]
    if report.get("kind") == "spans":
        parts += [_grid(s) for s in _span_sections(report)]
        parts.append(_grid(_u_alpha_section(report)))
        parts += [f"{k}: {v}" for k, v in report["definitions"].items()]
    else:
        parts.append(_grid(_overall_section(report)))
        parts.append(_grid(_codes_section("Per code", report["per_code"])))
        humans, models = _split_pairs(report["pairs"])
        parts.append(_grid(_pairs_section("Coder vs coder", humans)))
        parts.append(_grid(_pairs_section("Coder vs model", models)))
        parts.append(_grid(_codes_section("Roll-up to parent codes", report.get("rollup", {}))))
        parts += [f"bands: {v}" for v in report["interpretation"].values()]
        parts += _notes(report)
    if report["warnings"]:
        parts += ["\nWarnings:", *(f"  - {w}" for w in report["warnings"])]
    return "\n".join(p for p in parts if p).rstrip() + "\n"


# --------------------------------------------------------------------------- HTML

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff4e0;border-left:4px solid #e69b00;padding:.5em 1em}
.side{display:flex;gap:2em;flex-wrap:wrap}.muted{color:#666;font-size:.9em}
.band-almost-perfect,.band-reliable{color:#1a7f37}.band-substantial{color:#4c8c2b}
.band-tentative,.band-moderate{color:#9a6700}
.band-fair,.band-slight,.band-poor,.band-unreliable{color:#b42318}
svg text{font-family:inherit;font-size:11px}
"""


def _cell(text: str, header: str) -> str:
    classes = []
    if text and (text[0].isdigit() or text[:1] in "-[" or text == "n/a"):
        classes.append("n")
    if header in ("band", "interpretation") and text:
        classes.append("band-" + text.replace(" ", "-"))
    cls = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{cls}>{escape(text)}</td>"


def _html_table(section: Section, heading: str = "h2") -> str:
    title, headers, rows = section
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(str(c), h) for c, h in zip(r, headers, strict=True))
                   + "</tr>" for r in rows)
    return f"<{heading}>{escape(title)}</{heading}><table><tr>{head}</tr>{body}</table>"


def _forest_svg(entries: dict) -> str:
    """Dot-and-whisker chart: per code, alpha (bootstrap CI) and kappa (normal CI)."""
    if not entries:
        return ""
    kappa = _kappa_key(next(iter(entries.values())))
    series = [(kappa, KAPPA_COLOR, STAT_NAMES[kappa]),
              ("krippendorff_alpha", ALPHA_COLOR, "Krippendorff's alpha")]
    numbers = [x for e in entries.values() for key, *_ in series
               for x in [_value(e[key]), *(_interval(e[key]) or [])] if x is not None]
    lo = max(-1.0, min([-0.2, *numbers]))
    left, width, row_h, top = 330, 420, 26, 34
    height = top + row_h * len(entries) + 10

    def x(v: float) -> float:
        return left + (min(max(v, lo), 1.0) - lo) / (1.0 - lo) * width

    parts = [f'<svg width="{left + width + 30}" height="{height}" role="img" '
             f'aria-label="per-code agreement with 95% intervals">']
    for ref, label in ((0.0, "0"), (0.667, ".667"), (0.8, ".800"), (1.0, "1")):
        if ref >= lo:
            parts.append(f'<line x1="{x(ref):.1f}" y1="{top - 8}" x2="{x(ref):.1f}" '
                         f'y2="{height - 6}" stroke="#bbb" stroke-dasharray="3,3"/>'
                         f'<text x="{x(ref):.1f}" y="{top - 12}" text-anchor="middle">'
                         f'{label}</text>')
    for n, (_, color, legend) in enumerate(series):
        parts.append(f'<circle cx="{10 + n * 150}" cy="12" r="4" fill="{color}"/>'
                     f'<text x="{18 + n * 150}" y="16">{escape(legend)}</text>')
    for i, (code, e) in enumerate(entries.items()):
        y = top + row_h * i + row_h / 2
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
                     f'<title>{escape(_code(code, e))}</title>'
                     f'{escape(_short(_code(code, e), 44))}</text>')
        for n, (key, color, legend) in enumerate(series):
            yy = y + (n - 0.5) * 7
            value, ci = _value(e[key]), _interval(e[key])
            if ci:
                parts.append(f'<line x1="{x(ci[0]):.1f}" y1="{yy:.1f}" x2="{x(ci[1]):.1f}" '
                             f'y2="{yy:.1f}" stroke="{color}" stroke-width="2"/>')
            if value is not None:
                parts.append(f'<circle cx="{x(value):.1f}" cy="{yy:.1f}" r="4" fill="{color}">'
                             f'<title>{escape(f"{code}: {legend} {_num(value)} {_ci(e[key])}")}'
                             f'</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _heatmap_svg(confusion: dict) -> str:
    labels, counts = confusion["labels"], confusion["counts"]
    n = len(labels)
    if not n:
        return ""
    cell, left, top = max(14, min(32, 640 // n)), 330, 40
    peak = max(max(row) for row in counts) or 1
    parts = [f'<svg width="{left + cell * n + 20}" height="{top + cell * n + 20}" role="img" '
             f'aria-label="confusion matrix">',
             f'<text x="{left}" y="14">columns: {escape(confusion["columns"])} (numbered as the '
             f'rows); rows: {escape(confusion["rows"])}</text>']
    for j in range(n):
        parts.append(f'<text x="{left + cell * j + cell / 2:.1f}" y="{top - 6}" '
                     f'text-anchor="middle">{j + 1}</text>')
    for i, label in enumerate(labels):
        y = top + cell * i
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">'
                     f'<title>{escape(label)}</title>{i + 1}. {escape(_short(label, 44))}</text>')
        for j, count in enumerate(counts[i]):
            shade = 1 - 0.85 * count / peak
            tone = int(255 * shade)  # agreement green, disagreement red
            fill = f"rgb({tone},255,{tone})" if i == j else f"rgb(255,{tone},{tone})"
            parts.append(f'<rect x="{left + cell * j}" y="{y}" width="{cell}" height="{cell}" '
                         f'fill="{fill}" stroke="#fff"><title>{escape(label)} / '
                         f'{escape(labels[j])}: {count}</title></rect>')
            if count:
                parts.append(f'<text x="{left + cell * j + cell / 2:.1f}" '
                             f'y="{y + cell / 2 + 4:.1f}" text-anchor="middle">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _disagreements_html(disagreements: list[dict], coders: list[str],
                        labels: dict | None = None) -> str:
    if not disagreements:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in ["unit", "text", *coders])
    rows = []
    for d in disagreements:
        cells = [d["unit"], d.get("text") or ""]
        cells += ["(not seen)" if d["codes"].get(c) is None else
                  "; ".join(_code(code, labels=labels) for code in d["codes"][c]) or "(no code)"
                  for c in coders]
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    return (f"<h2>Disagreements ({len(disagreements)} units)</h2>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table>")


def render_html(report: dict, disagreements: list[dict] | None = None) -> str:
    """A self-contained HTML page for the report: tables, an SVG dot-and-whisker chart of the
    per-code coefficients, a confusion heat-map (nominal, two coders), coder-vs-coder beside
    coder-vs-model pairs, warnings and the disagreements with their texts."""
    title = "Span agreement" if report.get("kind") == "spans" else "Inter-rater agreement"
    body = [f"<h1>{escape(title)}</h1>", f"<p>{escape(_header(report))}</p>"]
    if report["warnings"]:
        items = "".join(f"<li>{escape(w)}</li>" for w in report["warnings"])
        body.append(f'<div class="warn"><strong>Warnings</strong><ul>{items}</ul></div>')
    if report.get("kind") == "spans":
        body += [_html_table(s) for s in _span_sections(report)]
        body.append(_html_table(_u_alpha_section(report)))
        items = "".join(f"<li><strong>{escape(k)}</strong>: {escape(v)}</li>"
                        for k, v in report["definitions"].items())
        body.append(f"<h2>Definitions</h2><ul>{items}</ul>")
    else:
        body.append(_html_table(_overall_section(report)))
        if report["per_code"]:
            body.append("<h2>Per code: coefficients with 95% intervals</h2>"
                        + _forest_svg(report["per_code"]))
            body.append('<p class="muted">Dashed lines: 0, and Krippendorff\'s .667 and .800. '
                        "Kappa intervals are normal (large-sample SE); alpha intervals are "
                        "percentile bootstrap over units.</p>")
        body.append(_html_table(_codes_section("Per code", report["per_code"])))
        if "confusion" in report:
            body.append("<h2>Confusion matrix</h2>" + _heatmap_svg(report["confusion"]))
        humans, models = _split_pairs(report["pairs"])
        tables = [_html_table(_pairs_section(t, p), "h3") for t, p in
                  (("Coder vs coder", humans), ("Coder vs model", models)) if p]
        body.append("<h2>Pairs</h2><div class=\"side\">"
                    + "".join(f"<div>{t}</div>" for t in tables) + "</div>")
        if report.get("rollup"):
            body.append("<h2>Roll-up to parent codes</h2>" + _forest_svg(report["rollup"]))
            body.append(_html_table(_codes_section("Roll-up table", report["rollup"]), "h3"))
        body.append(_disagreements_html(disagreements or [], report["coders"],
                                        report.get("labels")))
        items = "".join(f"<li>{escape(v)}</li>" for v in report["interpretation"].values())
        body.append(f"<h2>Interpretation bands</h2><ul>{items}</ul>")
        items = "".join(f"<li>{escape(v)}</li>" for v in _notes(report))
        body.append(f"<h2>How each figure is computed</h2><ul>{items}</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(b for b in body if b) + "</body></html>\n")
