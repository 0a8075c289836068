"""``precode agree``: agreement between coders, and between coders and the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import err_console, friendly

FORMATS = ("table", "json", "html")
UNITS = ("auto", "segment", "character")


app = typer.Typer()


@app.command("agree")
@friendly
def agree(
    files: Annotated[list[Path], typer.Argument(
        help="Codings: long CSV (unit,coder,code), wide CSV (unit, one column per coder), "
             "coded excerpts (.csv/.jsonl, one file per coder), precode code output "
             "(.jsonl, coder 'model') or .qdpx.")],
    mode: Annotated[str, typer.Option(help="multilabel (codes present/absent per unit) or "
                                           "nominal (exactly one code per unit).")
                    ] = "multilabel",
    level: Annotated[str, typer.Option(help="Metric of Krippendorff's alpha in nominal mode: "
                                            "nominal, ordinal, interval or ratio.")
                     ] = "nominal",
    unit: Annotated[str, typer.Option(help="segment (units as given), character (spans with "
                                           "document, start, end: character level, MAXQDA "
                                           "segments, unitizing alpha) or auto (character "
                                           "when every file is a .qdpx project).")] = "auto",
    hierarchy: Annotated[str, typer.Option(help="as_given, derived (parent codes derived from "
                                                "each coder's leaf codes, the same way for "
                                                "all) or leaves (leaf codes only); needs "
                                                "--codebook.")] = "as_given",
    codebook: Annotated[str | None, typer.Option(help="Codebook (built-in name or file) to "
                                                      "check codes and roll up to parent "
                                                      "codes.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, json or html.")
                      ] = "table",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: "
                                                                 "stdout).")] = None,
    min_overlap: Annotated[float, typer.Option(help="Segment level: share of the two "
                                                    "segments' union that must overlap.")
                           ] = 0.9,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals "
                                                "(0: none).")] = 1000,
):
    """Inter-rater agreement (kappa, alpha, AC1, ...) per code, overall and per pair."""
    import json

    from corpus.codebook_files import load_codebooks
    from corpus.errors import PrecodeInputError
    from eval.agreement_io import read_codings
    from eval.agreement_render import render_html, render_table
    from eval.agreement_report import (
        HIERARCHY,
        LEVELS,
        MODES,
        agreement_report,
        find_disagreements,
    )
    from eval.spans import span_report

    for name, value, allowed in (("--mode", mode, MODES), ("--level", level, LEVELS),
                                 ("--unit", unit, UNITS), ("--format", format, FORMATS),
                                 ("--hierarchy", hierarchy, tuple(HIERARCHY))):
        if value not in allowed:
            raise PrecodeInputError(f"unknown value {value!r} (use {', '.join(allowed)})",
                                    field=name)
    if bootstrap < 0:
        raise PrecodeInputError("must not be negative", field="--bootstrap")
    book = load_codebooks(codebook) if codebook else None
    codings = read_codings(files, codebook=book)
    if unit == "auto":
        unit = "character" if all(f.suffix.lower() == ".qdpx" for f in files) else "segment"
    with err_console.status(f"computing agreement ({bootstrap} bootstrap resamples)"):
        if unit == "character":
            labels = {**codings.labels, **({c.id: c.label for c in book} if book else {})}
            report, disagreements = span_report(
                codings.spans, codings.lengths, min_overlap=min_overlap, labels=labels,
                estimated=set(codings.lengths) - codings.known_lengths), []
        else:
            report = agreement_report(codings, mode=mode, level=level, codebook=book,
                                      n_boot=bootstrap, seed=seed, hierarchy=hierarchy)
            disagreements = find_disagreements(codings)
    if format == "json":
        text = json.dumps({**report, "disagreements": disagreements}, indent=2,
                          ensure_ascii=False, allow_nan=False) + "\n"
    elif format == "html":
        text = render_html(report, disagreements)
    else:
        text = render_table(report)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    err_console.print(f"wrote {out}")
