"""``precode bench speed``: how fast the model encodes and suggests, and which exemplar index to use.

- Segments per second for encoding alone and for full suggestion (encode, head, neighbour vote,
  evidence) at batch sizes 1, 8 and 64, on the machine it runs on (median of repeats).
- The built-in model's training time, as its manifest recorded it.
- Exact (``IndexFlatIP``) against HNSW search: queries per second and HNSW's recall@10 against the
  exact answer, at several index sizes. The vectors are the model's own exemplar embeddings, grown
  to each size by adding noise around them (so they cluster as real excerpts do). HNSW is worth it
  only where it is at least 1.5 times as fast at a recall of at least 0.99.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

BATCH_SIZES = (1, 8, 64)


def _median_rate(fn, n_items: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(n_items / (time.perf_counter() - t))
    return statistics.median(rates)


def model_speed(suggester, texts: list[str], *, repeats: int = 3) -> list[dict]:
    rows = []
    suggester.suggest(texts[:8])  # warm-up
    for bs in BATCH_SIZES:
        n = max(bs, min(len(texts), 64))
        batches = [texts[i:i + bs] for i in range(0, n, bs)]

        def run_encode(batches=batches, bs=bs):
            for b in batches:
                suggester.embed(b, batch_size=bs)

        def run_suggest(batches=batches, bs=bs):
            for b in batches:
                suggester.suggest(b, batch_size=bs)

        rows.append({"batch_size": bs, "segments": n,
                     "encode_per_s": _median_rate(run_encode, n, repeats),
                     "suggest_per_s": _median_rate(run_suggest, n, repeats)})
    return rows


def _grow(seeds: np.ndarray, n: int, rng, spread: float = 0.5) -> np.ndarray:
    """``n`` unit vectors scattered around the rows of ``seeds``."""
    dim = seeds.shape[1]
    picks = seeds[rng.integers(0, len(seeds), n)]
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    out = picks + noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def index_speed(seeds: np.ndarray, sizes=(2_000, 20_000, 100_000), n_queries: int = 200,
                k: int = 10, seed: int = 0) -> list[dict]:
    import faiss

    rng = np.random.default_rng(seed)
    dim = seeds.shape[1]
    rows = []
    for n in sizes:
        base = _grow(seeds, n, rng)
        # queries near stored vectors, as real segments are near coded excerpts
        q = _grow(seeds, n_queries, rng)
        flat = faiss.IndexFlatIP(dim)
        flat.add(base)
        t = time.perf_counter()
        _, exact = flat.search(q, k)
        flat_qps = n_queries / (time.perf_counter() - t)
        hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        t = time.perf_counter()
        hnsw.add(base)
        build = time.perf_counter() - t
        hnsw.hnsw.efSearch = 128
        t = time.perf_counter()
        _, approx = hnsw.search(q, k)
        hnsw_qps = n_queries / (time.perf_counter() - t)
        recall = np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact, strict=True)])
        rows.append({"size": n, "flat_qps": flat_qps, "hnsw_qps": hnsw_qps,
                     "hnsw_recall_at_10": float(recall), "hnsw_build_s": build})
    return rows


def make_transcripts(folder: Path, excerpts, n_docs: int = 50, turns: int = 30,
                     seed: int = 0) -> list[Path]:
    """Interview transcripts assembled from corpus excerpts: interviewer lines as questions,
    the rest as participant answers, with timestamps, as real .txt transcripts look."""
    import random

    rng = random.Random(seed)
    questions = [e.text for e in excerpts if e.meta.get("speaker_role") == "interviewer"]
    answers = [e.text for e in excerpts if e.meta.get("speaker_role") != "interviewer"]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(n_docs):
        lines, clock = [], 0
        for t in range(turns):
            clock += rng.randint(10, 90)
            stamp = f"[{clock // 3600:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}]"
            if t % 2 == 0:
                lines.append(f"{stamp} Interviewer: {rng.choice(questions)}")
            else:
                lines.append(f"{stamp} P{d + 1}: " + " ".join(rng.sample(answers, 2)))
        path = folder / f"interview_{d + 1:02d}.txt"
        path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def batch_speed(suggester, excerpts, workdir: Path) -> dict:
    """Pre-code a folder of 50 transcripts as `precode code FOLDER --out OUT.jsonl` does."""
    from service.batch import PrecodeOptions, run_batch, write_jsonl

    make_transcripts(workdir / "in", excerpts)
    t = time.perf_counter()
    summary = run_batch([workdir / "in"], workdir / "out.jsonl", suggester, PrecodeOptions(),
                        writer=write_jsonl)
    seconds = time.perf_counter() - t
    return {"documents": summary.documents, "segments": summary.segments,
            "coded_segments": summary.coded_segments, "seconds": seconds,
            "segments_per_s": summary.segments / seconds,
            "coded_segments_per_s": summary.coded_segments / seconds}


def refit_speed(suggester, excerpts, workdir: Path) -> dict:
    """Time a head-and-index refit (what a retraining after reviews does) on all excerpts."""
    from training.train import refit_model

    t = time.perf_counter()
    refit_model(suggester.path, excerpts, workdir / "refit")
    return {"excerpts": len(excerpts), "seconds": time.perf_counter() - t}


def run(out_dir: Path, suggester, *, texts: list[str], excerpts=None, log=print,
        index_sizes=(2_000, 5_000, 10_000, 20_000, 100_000)) -> Path:
    import torch

    log("timing encoding and suggestion")
    speed = model_speed(suggester, texts)
    log("timing exact and HNSW search")
    index = index_speed(suggester.index.vectors, sizes=index_sizes)
    batch = refit = None
    if excerpts:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="precode-bench-") as tmp:
            log("pre-coding a folder of 50 transcripts")
            batch = batch_speed(suggester, excerpts, Path(tmp))
            log("refitting head and index")
            refit = refit_speed(suggester, excerpts, Path(tmp))
    machine = (f"{platform.machine()}, {torch.get_num_threads()} threads, "
               f"{'GPU' if torch.cuda.is_available() else 'CPU only'}")
    manifest = suggester.manifest
    result = {"machine": machine, "model": str(suggester.path), "speed": speed, "index": index,
              "batch": batch, "refit": refit,
              "training_seconds": manifest.get("training_seconds"),
              "training_excerpts": manifest.get("n_excerpts")}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "speed.json").write_text(json.dumps(result, indent=2))
    lines = ["# Speed", "", f"Written by `precode bench speed` on {machine}. Medians of 3 runs.",
             "", "## Encoding and suggestion", "",
             "| batch size | encode segments/s | suggest segments/s |", "|---|---|---|"]
    lines += [f"| {r['batch_size']} | {r['encode_per_s']:.1f} | {r['suggest_per_s']:.1f} |"
              for r in speed]
    lines += ["", "Suggest = encode + head + neighbour vote + evidence for every suggested code.",
              "", "## Training the built-in model", "",
              f"{result['training_seconds']} s for {result['training_excerpts']} excerpts "
              "(fine-tuning, embedding, calibration, head and index), as recorded in the model's "
              "`precode.json`.", ""]
    if refit:
        lines += [f"Refitting only calibration, head and exemplar index after reviews (encoder "
                  f"kept): {refit['seconds']:.1f} s for {refit['excerpts']} excerpts.", ""]
    if batch:
        lines += ["## Pre-coding a folder", "",
                  f"50 interview transcripts (.txt, 30 turns each, assembled from the seed "
                  f"corpus): {batch['documents']} documents, {batch['segments']} segments "
                  f"({batch['coded_segments']} coded, interviewer turns kept but not coded) in "
                  f"{batch['seconds']:.1f} s: {batch['segments_per_s']:.1f} segments/s, "
                  f"{batch['coded_segments_per_s']:.1f} coded segments/s.", ""]
    lines += ["## Exemplar index: exact or HNSW", "",
              "| exemplars | exact queries/s | HNSW queries/s | HNSW recall@10 | HNSW build s |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['size']:,} | {r['flat_qps']:.0f} | {r['hnsw_qps']:.0f} | "
              f"{r['hnsw_recall_at_10']:.3f} | {r['hnsw_build_s']:.1f} |" for r in index]
    faster = [r["size"] for r in index if r["hnsw_qps"] >= 1.5 * r["flat_qps"] and
              r["hnsw_recall_at_10"] >= 0.99]
    lines += ["", "HNSW is at least 1.5 times as fast at a recall of at least 0.99 from "
              f"{faster[0]:,} exemplars on." if faster else
              "HNSW was never 1.5 times as fast at a recall of at least 0.99 in this range, so "
              f"the index stays exact up to {index[-1]['size']:,} exemplars (models.index."
              "EXACT_MAX).", ""]
    path = out_dir / "speed.md"
    path.write_text("\n".join(lines))
    return path
