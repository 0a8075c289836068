"""``precode calibrate``: map a model's confidences on the researcher's own coded excerpts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from corpus.errors import PrecodeInputError
from service.cli.common import console, friendly, load_suggester, stage

app = typer.Typer()


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


@app.command()
@friendly
def calibrate(
    data: Annotated[list[Path], typer.Argument(help="Excerpts you coded yourself (.csv, .jsonl), "
                                                    "or a REFI-QDA project (.qdpx) with --coder.")],
    out: Annotated[Path, typer.Option(help="Model directory to write (may be the one read).")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    coder: Annotated[str | None, typer.Option(help="With a .qdpx: whose codings to use.")] = None,
    abstain_below: Annotated[float, typer.Option(help="Suggest a code only at this recalibrated "
                                                      "confidence or more.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Random seed for the held-out halves.")] = 0,
):
    """Make confidences honest on your own speech: map them on excerpts you coded (20 or more,
    not used in training), and abstain where the model is no better than a guess."""
    from corpus.excerpts import read_excerpts
    from training.recalibration import recalibrate

    suggester = load_suggester(model)
    book = suggester.codebook
    projects = [p for p in data if p.suffix.lower() == ".qdpx"]
    if projects and len(data) > 1:
        raise PrecodeInputError("calibrate on one .qdpx project at a time", field="DATA")
    if projects:
        from training.qdpx import excerpts_from_project

        excerpts, _ = excerpts_from_project(projects[0], coder=coder, codebook=book)
    else:
        excerpts = [ex for path in data for ex in read_excerpts(path, book)]
    stage(f"scoring {len(excerpts)} coded excerpts")
    new, report = recalibrate(suggester, excerpts, floor=abstain_below, seed=seed,
                              source=", ".join(p.name for p in data))
    path = new.save(out)
    table = Table(title=f"On held-out halves of {report.n_excerpts} coded excerpts "
                        f"(judged codes: {len(report.judged)})")
    for column in ("", "calibration error (ECE)", "segments with a suggestion", "precision"):
        table.add_column(column)
    for name, r in (("before", report.before), ("after", report.after)):
        table.add_row(name, _fmt(r["ece"]), f"{r['suggested_share']:.0%}", _fmt(r["precision"]))
    console.print(table)
    if report.n_left_out:
        console.print(f"{report.n_left_out} excerpts left out (no code, or one of the model's "
                      "own exemplars).")
    if report.after["suggestions"] == 0:
        console.print("On these excerpts the model abstains: no code reached "
                      f"{abstain_below:.2f} confidence. Code more excerpts and calibrate again, "
                      "or train a model on your codings (precode train).")
    console.print(f"model written to {path} (see {path / 'model_card.md'})")
