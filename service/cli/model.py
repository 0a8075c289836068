"""The model commands: ``train``, ``suggest``, ``code``, ``show``, ``evaluate``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from corpus.errors import PrecodeInputError
from service.cli.common import (
    console,
    err_console,
    friendly,
    load_suggester,
    resolve_model,
    stage,
)

app = typer.Typer()


def _parse_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise PrecodeInputError(f"expected OLD=NEW, got {item!r}", field="--map")
        old, new = item.split("=", 1)
        out[old.strip()] = new.strip()
    return out


@app.command()
@friendly
def train(
    data: Annotated[list[Path] | None, typer.Argument(help="Coded excerpts (.csv, .jsonl) or a "
                                                           "REFI-QDA project (.qdpx).")] = None,
    codebook: Annotated[str | None, typer.Option(help="Built-in names or codebook files, "
                                                      "comma-separated (default: npt,integrating; "
                                                      "for a .qdpx, the project's own).")] = None,
    coder: Annotated[str | None, typer.Option(help="With a .qdpx: whose codings to learn "
                                                   "from.")] = None,
    out: Annotated[Path | None, typer.Option(help="Model directory to write.")] = None,
    base_model: Annotated[Path | None, typer.Option(help="A sentence-transformers directory "
                                                         "(default: bundled MiniLM).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs (0: frozen encoder).")] = 1,
    builtin: Annotated[bool, typer.Option("--builtin", help="(Re)train the built-in model from "
                                                            "the seed corpus.")] = False,
    map_codes: Annotated[list[str] | None, typer.Option("--map", help="Rename a code: OLD=NEW "
                                                                      "(NEW empty drops it).")] = None,
    drop_unknown: Annotated[bool, typer.Option(help="Drop codes not in the codebook.")] = False,
):
    """Train a model directory from coded excerpts and a codebook."""
    from corpus.codebook_files import load_codebooks
    from corpus.excerpts import read_excerpts
    from service.settings import Settings
    from training.args import TrainingArguments
    from training.train import train_model

    settings = Settings()
    settings.apply_torch_threads()
    if builtin:
        from service.services.model_loading import model_path

        path = model_path(settings, progress=True, stage=stage, force=True)
        console.print(f"built-in model: {path} (cached for every PRECODE_HOME on this machine "
                      f"in {settings.model_cache_dir() / 'builtin'})")
        return
    if not data:
        raise PrecodeInputError("give coded-excerpt files to train on, or --builtin",
                                field="DATA")
    if out is None:
        raise PrecodeInputError("say where to write the model with --out DIR", field="--out")
    projects = [p for p in data if p.suffix.lower() == ".qdpx"]
    if projects and len(data) > 1:
        raise PrecodeInputError("train from one .qdpx project at a time", field="DATA")
    if projects:
        from training.qdpx import excerpts_from_project

        excerpts, book = excerpts_from_project(projects[0], coder=coder,
                                               codebook=load_codebooks(codebook) if codebook
                                               else None)
    else:
        book = load_codebooks(codebook or "npt,integrating")
        excerpts = []
        for path in data:
            excerpts.extend(read_excerpts(path, book, code_map=_parse_map(map_codes or []),
                                          drop_unknown=drop_unknown))
    args = TrainingArguments(seed=seed, epochs=epochs)
    path = train_model(excerpts, book, out, args=args, base_model=base_model, stage=stage,
                       sources=[str(p) for p in data])
    console.print(f"model written to {path} (see {path / 'model_card.md'})")


def _print_result(text: str, result) -> None:
    console.print(f"[bold]{escape(text)}[/bold]")
    if result.no_code:
        console.print("  no code: nothing passes its threshold")
    for s in result.suggestions:
        console.print(f"  [cyan]{s.code}[/cyan] {escape(s.label)}  confidence {s.confidence:.2f}"
                      f" (threshold {s.threshold:.2f})")
        for e in s.evidence:
            text = e.text if len(e.text) <= 70 else e.text[:69] + "…"
            console.print(f"      {e.similarity:.2f}  [dim]{escape(text)}[/dim]", highlight=False)
            if e.context:  # the question that coded excerpt answered
                asked = e.context if len(e.context) <= 64 else "…" + e.context[-63:]
                console.print(f"            [dim]to: {escape(asked)}[/dim]", highlight=False)


@app.command()
@friendly
def suggest(
    text: Annotated[list[str], typer.Argument(help="One or more texts to code.")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    min_confidence: Annotated[float | None, typer.Option(help="Hide suggestions below this "
                                                               "confidence.")] = None,
    top_k: Annotated[int | None, typer.Option(help="At most this many codes per text.")] = None,
    context: Annotated[str | None, typer.Option(
        help="The question the texts answer (read by a model trained with contexts).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
):
    """Suggest codes for a text, with confidence and evidence."""
    import json

    suggester = load_suggester(model)
    results = suggester.suggest(text, min_confidence=min_confidence, top_k=top_k,
                                contexts=[context] * len(text) if context else None)
    if as_json:
        print(json.dumps([{"text": t, "suggestions": [s.to_dict() for s in r.suggestions]}
                          for t, r in zip(text, results, strict=True)], ensure_ascii=False,
                         indent=2))
        return
    for t, r in zip(text, results, strict=True):
        _print_result(t, r)
    _print_caution(suggester, any(r.suggestions for r in results))


def _print_caution(model, suggested: bool) -> None:
    """The model's caution about real speech (``models.suggester.confidence_basis_of``), once,
    where it suggested something."""
    from models.suggester import confidence_basis_of

    caution = confidence_basis_of(model)["caution"]
    if caution and suggested:
        console.print(f"[yellow]On real interview speech:[/yellow] {escape(caution)}")


@app.command()
@friendly
def code(
    inputs: Annotated[list[Path], typer.Argument(help="Transcript files or folders (.txt, .docx, "
                                                      ".vtt, .srt, .csv, .jsonl), or one REFI-QDA "
                                                      "project (.qdpx).")],
    out: Annotated[Path, typer.Option(help="Output file.")],
    format: Annotated[str | None, typer.Option(help="jsonl, csv, qdpx or html (default: from "
                                                    "the --out suffix).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    unit: Annotated[str, typer.Option(help="Segment by turn, paragraph or sentence.")] = "turn",
    min_confidence: Annotated[float | None, typer.Option(help="Hide suggestions below this "
                                                               "confidence.")] = None,
    include_interviewer: Annotated[bool, typer.Option(help="Code interviewer turns too.")] = False,
    all_scores: Annotated[bool, typer.Option(help="Add every code's confidence.")] = False,
    engine: Annotated[str, typer.Option(help="local (this process) or ray (a Ray cluster; "
                                             "install precode[ray]).")] = "local",
    address: Annotated[str | None, typer.Option(help="With --engine ray: the cluster to join "
                                                     "(default: start a local one).")] = None,
    actors: Annotated[int | None, typer.Option(help="With --engine ray: model actors (default: "
                                                    "the cluster's CPUs / --threads).")] = None,
    threads: Annotated[int, typer.Option(help="With --engine ray: PyTorch threads (and CPUs) "
                                              "per actor.")] = 1,
):
    """Pre-code transcripts: one record per segment with suggestions and evidence."""
    from service.batch import PrecodeOptions, run_batch
    from service.writers import WRITERS

    fmt = (format or out.suffix.lstrip(".")).lower()
    if fmt not in WRITERS:
        raise PrecodeInputError(f"unknown format {fmt!r} (use {', '.join(WRITERS)})",
                                field="--format")
    if unit not in ("turn", "paragraph", "sentence"):
        raise PrecodeInputError(f"unknown unit {unit!r} (use turn, paragraph or sentence)",
                                field="--unit")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise PrecodeInputError("must lie between 0 and 1", field="--min-confidence")
    if engine not in ("local", "ray"):
        raise PrecodeInputError(f"unknown engine {engine!r} (use local or ray)", field="--engine")
    if engine != "ray" and (address or actors is not None or threads != 1):
        raise PrecodeInputError("--address, --actors and --threads need --engine ray",
                                field="--engine")
    if engine == "ray":
        from service.ray_engine import RayOptions, check_address, require_ray

        require_ray()
        if address:
            check_address(address)
        if threads < 1 or (actors is not None and actors < 1):
            raise PrecodeInputError("must be 1 or more", field="--threads" if threads < 1
                                    else "--actors")
    from service.batch import collect_inputs

    files = collect_inputs(inputs)  # a missing input is named before the model loads
    if fmt == "qdpx" and len(files) > 1 and any(p.suffix.lower() == ".qdpx" for p, _ in files):
        raise PrecodeInputError("a .qdpx project is pre-coded on its own: give it as the only "
                                "input", field="INPUTS")
    suggester = resolve_model(model) if engine == "ray" else load_suggester(model)
    options = PrecodeOptions(unit=unit, min_confidence=min_confidence,
                             include_interviewer=include_interviewer, all_scores=all_scores)
    out.parent.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    with tqdm(total=len(files), unit="doc", desc="pre-coding", file=sys.stderr) as bar:
        def done(document: str, n: int) -> None:
            bar.set_postfix_str(f"{document} ({n} segments)")
            bar.update(1)

        def failed(path: str, reason: str) -> None:
            bar.write(f"skipped {reason}")
            bar.update(1)

        if engine == "ray":  # the actors load the model; this process only reads and writes
            from service.ray_engine import run_batch_ray

            summary = run_batch_ray(inputs, out, suggester, options, writer=WRITERS[fmt],
                                    ray_options=RayOptions(address=address, actors=actors,
                                                           threads=threads),
                                    on_document=done, on_error=failed, files=files)
        else:
            summary = run_batch(inputs, out, suggester, options, writer=WRITERS[fmt],
                                on_document=done, on_error=failed, files=files)
    console.print(f"{summary.documents} document(s), {summary.segments} segments "
                  f"({summary.coded_segments} coded), {summary.with_suggestion} with a suggestion"
                  + (f", {summary.resumed} resumed from an earlier run" if summary.resumed else ""))
    for c, n in sorted(summary.per_code.items(), key=lambda x: (-x[1], x[0])):
        console.print(f"  {n:5d}  {c}")
    if summary.failed:
        console.print(f"[red]{len(summary.failed)} file(s) could not be read:[/red]")
        for path, reason in summary.failed:
            console.print(f"  {escape(path)}: {escape(reason)}")
    console.print(f"wrote {out}" if summary.documents or not summary.failed else
                  "nothing written: no input could be read")
    _print_caution(suggester, bool(summary.with_suggestion))
    if summary.failed:
        raise typer.Exit(1)


@app.command()
@friendly
def show(
    file: Annotated[Path, typer.Argument(help="A .jsonl written by `precode code`.")],
    evidence: Annotated[int, typer.Option(help="Evidence excerpts to show per suggestion.")] = 1,
):
    """Print pre-coded segments readably: text, suggested codes with confidence, evidence."""
    import json

    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PrecodeInputError(f"cannot read: {exc.strerror}", source=str(file)) from None
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
            text, suggestions = rec["text"], rec["suggestions"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise PrecodeInputError("not a record written by `precode code`", source=str(file),
                                    line=n) from None
        who = rec.get("speaker") or "?"
        style = "dim" if not rec.get("coded", True) else "bold"
        console.print(f"[{style}]{escape(who)}:[/{style}] {escape(text)}", highlight=False)
        if rec.get("coded", True) and not suggestions:
            console.print("   [dim]no code suggested[/dim]")
        for s in suggestions:
            console.print(f"   [cyan]{escape(s['label'])}[/cyan] ({s['code']}) "
                          f"{s['confidence']:.2f}", highlight=False)
            for e in s["evidence"][:evidence]:
                console.print(f"      [dim]like: {escape(e['text'][:120])} "
                              f"({e['similarity']:.2f})[/dim]", highlight=False)
        console.print()


@app.command()
@friendly
def evaluate(
    gold: Annotated[list[Path], typer.Argument(help="Gold codings with texts: coded-excerpt "
                                                    "files (one per coder, or a coder column).")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    gold_coder: Annotated[str | None, typer.Option(help="The coder to score against (default: "
                                                        "the first).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for intervals.")] = 1000,
):
    """Score the model as one more coder: per-code precision/recall/F1 and agreement with gold."""
    import json

    from eval.agreement_io import read_codings
    from eval.agreement_report import jsonable
    from eval.evaluate import evaluate as run_evaluation
    from eval.evaluate import render_text

    if format not in ("table", "json"):
        raise PrecodeInputError(f"unknown format {format!r} (use table or json)", field="--format")
    suggester = load_suggester(model)
    result = run_evaluation(suggester, read_codings(gold, codebook=suggester.codebook),
                            gold_coder=gold_coder, n_boot=bootstrap)
    text = (json.dumps(jsonable(result), indent=2, ensure_ascii=False) if format == "json"
            else render_text(result))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {out}")
