"""``precode codebook``: show and convert codebooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.tree import Tree

from corpus.errors import PrecodeInputError
from service.cli.common import console, err_console, friendly

app = typer.Typer(help="Show, check and convert codebooks.", no_args_is_help=True)


@app.command("show")
@friendly
def codebook_show(
    codebook: Annotated[str, typer.Argument(help="Built-in name (npt, integrating) or a .yaml, "
                                                 ".csv or .qdc file; several joined by commas.")],
    definitions: Annotated[bool, typer.Option("--definitions/--no-definitions",
                                              help="Print each code's definition.")] = True,
):
    """Print a codebook as a tree."""
    from corpus.codebook_files import load_codebooks

    book = load_codebooks(codebook)
    for warning in book.warnings:
        err_console.print(f"warning: {escape(warning)}")
    tree = Tree(f"[bold]{escape(book.label)}[/bold] ({escape(book.id)}, {len(book)} codes)")
    nodes = {}
    for code in book.walk():
        parent = nodes.get(code.parent, tree)
        label = f"[cyan]{escape(code.id)}[/cyan]  {escape(code.label)}"
        if not code.codable:
            label += " [dim](not codable)[/dim]"
        if definitions and code.definition:
            label += f"\n[dim]{escape(code.definition)}[/dim]"
        nodes[code.id] = parent.add(label)
    console.print(tree)


@app.command("export")
@friendly
def codebook_export(
    codebook: Annotated[str, typer.Argument(help="Built-in name or codebook file.")],
    format: Annotated[str, typer.Option("--format", "-f", help="qdc, csv or yaml")] = "qdc",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: "
                                                                 "stdout)")] = None,
):
    """Write a codebook as REFI-QDA .qdc, CSV or YAML."""
    from corpus.codebook import to_csv, to_qdc, to_yaml
    from corpus.codebook_files import load_codebooks

    book = load_codebooks(codebook)
    for warning in book.warnings:
        err_console.print(f"warning: {escape(warning)}")
    writers = {"qdc": lambda b: to_qdc(b), "csv": lambda b: to_csv(b).encode("utf-8"),
               "yaml": lambda b: to_yaml(b).encode("utf-8")}
    if format not in writers:
        raise PrecodeInputError(f"unknown format {format!r} (use qdc, csv or yaml)",
                                field="--format")
    data = writers[format](book)
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        out.write_bytes(data)
        err_console.print(f"wrote {out} ({len(book)} codes)")
