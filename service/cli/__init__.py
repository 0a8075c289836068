"""The ``precode`` command line: one module per command group, put together here.

- ``model``: train, suggest, code, show, evaluate
- ``calibrate``: confidences mapped on the researcher's own coded excerpts
- ``agree``: agreement between coders and with the model
- ``serve``: the HTTP API
- ``codebook``, ``bench``, ``accounts`` (``precode users``): command groups
- ``common``: the consoles, the bad-input handler and the model every command uses
"""

from __future__ import annotations

import typer

from service.cli import accounts, agree, bench, calibrate, codebook, model, serve

__all__ = ["app", "main"]

app = typer.Typer(help="precode: local code suggestions for qualitative interview transcripts.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
for _commands in (model.app, calibrate.app, serve.app, agree.app):
    app.add_typer(_commands)
app.add_typer(codebook.app, name="codebook")
app.add_typer(bench.app, name="bench")
app.add_typer(accounts.app, name="users")


def main() -> None:  # pragma: no cover - entry point
    app()
