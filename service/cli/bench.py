"""``precode bench``: the benchmarks (results in eval/results/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corpus.errors import PrecodeInputError
from service.cli.common import console, friendly, load_suggester, stage

app = typer.Typer(help="Benchmarks; results go to eval/results/.", no_args_is_help=True)
RESULTS = Path(__file__).resolve().parents[2] / "eval" / "results"


@app.command("quality")
@friendly
def bench_quality(
    out_dir: Annotated[Path, typer.Option(help="Where to write quality.md/json.")] = RESULTS,
    dataset: Annotated[list[str] | None, typer.Option(
        help="npt_quotes_dev, ci_claims, fivewords and/or seed (default: all).")] = None,
    system: Annotated[list[str] | None, typer.Option(
        help="precode, setfit, frozen_encoder_logreg, frozen_encoder_logreg_code_texts, "
             "frozen_encoder_logreg_context (where texts have contexts), tfidf_logreg, "
             "definition_zero_shot (default: all) and setfit_default (only when "
             "named: SetFit's full sampling, 9 minutes a ci_claims fold).")] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    keep_others: Annotated[bool, typer.Option(help="Keep earlier results of the datasets not "
                                                   "rerun (from quality.json).")] = False,
):
    """Quality on real data beside the human reference and the baselines, then on the seed corpus
    (about 90 minutes on 2 cores for everything)."""
    from eval.bench.quality import DATASETS, run
    from eval.bench.systems import OPTIONAL_SYSTEMS, SYSTEMS
    from training.args import TrainingArguments

    chosen = tuple(dataset or DATASETS)
    unknown = set(chosen) - set(DATASETS)
    if unknown:
        raise PrecodeInputError(f"unknown dataset(s) {', '.join(sorted(unknown))}",
                                field="--dataset")
    unknown = set(system or ()) - set(SYSTEMS) - set(OPTIONAL_SYSTEMS)
    if unknown:
        raise PrecodeInputError(f"unknown system(s) {', '.join(sorted(unknown))}",
                                field="--system")
    path = run(out_dir, datasets=chosen, n_folds=folds, args=TrainingArguments(seed=seed),
               systems=system or None, log=stage, keep_others=keep_others)
    console.print(f"wrote {path}")


@app.command("speed")
@friendly
def bench_speed(
    out_dir: Annotated[Path, typer.Option(help="Where to write speed.md/json.")] = RESULTS,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    api_seconds: Annotated[float, typer.Option(
        min=0, help="Seconds of each 20-client load run of the API (micro-batching on, then "
                    "off); 0 skips the API.")] = 60,
):
    """Segments per second for encoding and suggestion, the encoder's backends and the API side
    by side; exact vs HNSW exemplar search."""
    from corpus.seed_corpus import load_seed
    from eval.bench.speed import run

    excerpts = load_seed()
    path = run(out_dir, load_suggester(model), texts=[e.text for e in excerpts][:64],
               excerpts=excerpts, log=stage, api_seconds=api_seconds)
    console.print(f"wrote {path}")


@app.command("scale")
@friendly
def bench_scale(
    out_dir: Annotated[Path, typer.Option(help="Where to write scale.md/json.")] = RESULTS,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: built-in).")] = None,
    files: Annotated[int, typer.Option(min=1, help="Tables of 256 comments a run.")] = 8,
):
    """`precode code --engine ray` with 1 and 2 actors against one process, and what 10 million
    comments would take on a cluster (needs precode[ray]; a few minutes on 2 cores)."""
    from eval.bench.scale import run
    from service.cli.common import resolve_model
    from service.ray_engine import require_ray

    require_ray()
    path = run(out_dir, resolve_model(model), log=stage, files=files)
    console.print(f"wrote {path}")
