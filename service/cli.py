"""The ``precode`` command line."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

import models.encoder  # noqa: F401  (offline mode, set before any model-hub library loads)
from corpus.errors import PrecodeInputError

app = typer.Typer(help="precode: local code suggestions for qualitative interview transcripts.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
codebook_app = typer.Typer(help="Show, check and convert codebooks.", no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")

console = Console()
err_console = Console(stderr=True)


def friendly(fn):
    """Turn bad-input errors into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PrecodeInputError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


# ---- codebook -------------------------------------------------------------------------------
@codebook_app.command("show")
@friendly
def codebook_show(
    codebook: Annotated[str, typer.Argument(help="Built-in name (npt, integrating) or a .yaml, "
                                                 ".csv or .qdc file; several joined by commas.")],
    definitions: Annotated[bool, typer.Option("--definitions/--no-definitions",
                                              help="Print each code's definition.")] = True,
):
    """Print a codebook as a tree."""
    from corpus.codebook import load_codebooks

    book = load_codebooks(codebook)
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


@codebook_app.command("export")
@friendly
def codebook_export(
    codebook: Annotated[str, typer.Argument(help="Built-in name or codebook file.")],
    format: Annotated[str, typer.Option("--format", "-f", help="qdc, csv or yaml")] = "qdc",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: "
                                                                 "stdout)")] = None,
):
    """Write a codebook as REFI-QDA .qdc, CSV or YAML."""
    from corpus.codebook import load_codebooks, to_csv, to_qdc, to_yaml

    book = load_codebooks(codebook)
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


# ---- model --------------------------------------------------------------------------------
def _stage(msg: str) -> None:
    err_console.print(f"[bold]precode[/bold] {escape(msg)}", highlight=False)


def resolve_model(model: Path | None) -> Path:
    """The model directory to use: the one named, else ``PRECODE_MODEL_DIR``, else the built-in
    (trained on first use). Also applies ``PRECODE_TORCH_THREADS``, as the server does."""
    from models.suggester import is_model_dir
    from service.settings import Settings
    from training.builtin import builtin_model_dir, ensure_builtin_model

    settings = Settings()
    settings.apply_torch_threads()
    model = model if model is not None else settings.model_dir
    if model is not None:
        return model
    if not is_model_dir(builtin_model_dir(settings.home)):
        _stage("the built-in model is not trained yet; training it now from the seed corpus "
               "(a few minutes, once)")
    return ensure_builtin_model(settings.home, progress=True, stage=_stage)


def load_suggester(model: Path | None):
    from models.suggester import Suggester

    return Suggester.load(resolve_model(model))


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
    from corpus.codebook import load_codebooks
    from corpus.excerpts import read_excerpts
    from training.args import TrainingArguments
    from training.train import train_model

    if builtin:
        from service.settings import Settings
        from training.builtin import ensure_builtin_model

        path = ensure_builtin_model(Settings().home, progress=True, stage=_stage, force=True)
        console.print(f"built-in model: {path}")
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
    path = train_model(excerpts, book, out, args=args, base_model=base_model, stage=_stage,
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


@app.command()
@friendly
def suggest(
    text: Annotated[list[str], typer.Argument(help="One or more texts to code.")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    min_confidence: Annotated[float | None, typer.Option(help="Hide suggestions below this "
                                                               "confidence.")] = None,
    top_k: Annotated[int | None, typer.Option(help="At most this many codes per text.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
):
    """Suggest codes for a text, with confidence and evidence."""
    import json

    suggester = load_suggester(model)
    results = suggester.suggest(text, min_confidence=min_confidence, top_k=top_k)
    if as_json:
        print(json.dumps([{"text": t, "suggestions": [s.to_dict() for s in r.suggestions]}
                          for t, r in zip(text, results, strict=True)], ensure_ascii=False,
                         indent=2))
        return
    for t, r in zip(text, results, strict=True):
        _print_result(t, r)


@app.command()
@friendly
def code(
    inputs: Annotated[list[Path], typer.Argument(help="Transcript files or folders (.txt, .docx, "
                                                      ".vtt, .srt, .csv, .jsonl).")],
    out: Annotated[Path, typer.Option(help="Output file.")],
    format: Annotated[str | None, typer.Option(help="jsonl, csv, qdpx or html (default: from "
                                                    "the --out suffix).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    unit: Annotated[str, typer.Option(help="Segment by turn, paragraph or sentence.")] = "turn",
    min_confidence: Annotated[float | None, typer.Option(help="Hide suggestions below this "
                                                               "confidence.")] = None,
    include_interviewer: Annotated[bool, typer.Option(help="Code interviewer turns too.")] = False,
    all_scores: Annotated[bool, typer.Option(help="Add every code's confidence.")] = False,
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
    from service.batch import collect_inputs

    files = collect_inputs(inputs)  # a missing input is named before the model loads
    suggester = load_suggester(model)
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
    console.print(f"wrote {out}")
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


bench_app = typer.Typer(help="Benchmarks; results go to eval/results/.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
RESULTS = Path(__file__).resolve().parents[1] / "eval" / "results"


@bench_app.command("quality")
@friendly
def bench_quality(
    out_dir: Annotated[Path, typer.Option(help="Where to write quality.md/json.")] = RESULTS,
    dataset: Annotated[list[str] | None, typer.Option(
        help="npt_quotes_dev, ci_claims, fivewords and/or seed (default: all).")] = None,
    system: Annotated[list[str] | None, typer.Option(
        help="precode, setfit, frozen_encoder_logreg, tfidf_logreg, definition_zero_shot "
             "(default: all).")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    keep_others: Annotated[bool, typer.Option(help="Keep earlier results of the datasets not "
                                                   "rerun (from quality.json).")] = False,
):
    """Quality on real data beside the human reference and the baselines, then on the seed corpus
    (about 90 minutes on 2 cores for everything)."""
    from eval.bench.quality import DATASETS, run
    from eval.bench.systems import SYSTEMS
    from training.args import TrainingArguments

    chosen = tuple(dataset or DATASETS)
    unknown = set(chosen) - set(DATASETS)
    if unknown:
        raise PrecodeInputError(f"unknown dataset(s) {', '.join(sorted(unknown))}",
                                field="--dataset")
    unknown = set(system or ()) - set(SYSTEMS)
    if unknown:
        raise PrecodeInputError(f"unknown system(s) {', '.join(sorted(unknown))}",
                                field="--system")
    path = run(out_dir, datasets=chosen, n_folds=folds, args=TrainingArguments(seed=seed),
               systems=system or None, log=_stage, keep_others=keep_others)
    console.print(f"wrote {path}")


@bench_app.command("speed")
@friendly
def bench_speed(
    out_dir: Annotated[Path, typer.Option(help="Where to write speed.md/json.")] = RESULTS,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
):
    """Segments per second for encoding and suggestion; exact vs HNSW exemplar search."""
    from corpus.seed_corpus import load_seed
    from eval.bench.speed import run

    excerpts = load_seed()
    path = run(out_dir, load_suggester(model), texts=[e.text for e in excerpts][:64],
               excerpts=excerpts, log=_stage)
    console.print(f"wrote {path}")


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


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes. They share the database: "
                                                     "each keeps its projects' models level with "
                                                     "it, and jobs are claimed with leases. The "
                                                     "cores are shared out between them.")] = 1,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
):
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from service.db.session import open_database
    from service.settings import Settings

    if model is not None:
        os.environ["PRECODE_MODEL_DIR"] = str(model)
    resolve_model(model)  # train the built-in model here, with a progress bar, if needed
    engine, _ = open_database(Settings().sqlalchemy_url())  # migrate once, before any worker
    engine.dispose()
    if workers > 1:
        share_cores(workers)
    uvicorn.run("service.api.app:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="info")


def share_cores(workers: int) -> None:
    """Several server processes: share the cores out between them (unless the environment
    says otherwise) and let /metrics add up every process's counts."""
    import shutil

    from service.services.jobs import process_exists
    from service.settings import Settings

    cores = os.cpu_count() or 1
    os.environ.setdefault("PRECODE_TORCH_THREADS", str(max(1, cores // workers)))
    os.environ.setdefault("PRECODE_INFERENCE_CONCURRENCY", str(max(1, cores // (2 * workers))))
    run = Settings().home / "run"
    for old in run.glob("metrics-*"):  # left by servers that have stopped
        pid = old.name.removeprefix("metrics-")
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    folder = run / f"metrics-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _register_commands() -> None:
    from service.cli_agree import register as register_agree
    from service.cli_users import register as register_users

    register_agree(app)
    register_users(app)


_register_commands()


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
