"""``precode bench speed``: how fast the model encodes and suggests, and which exemplar index to use.

- The encoder's backends side by side, on the same texts in the same run: PyTorch fp32 encoding
  alone (sentence-transformers, batch 32; timed before and after the rest, the mean counts), the
  int8 ONNX backend encoding alone, and `precode code` pre-coding transcripts of those texts end to
  end in a fresh process (start, imports and model loading included), with their ratios. Wall-clock
  and CPU seconds both, since on a shared machine wall-clock alone is noisy.
- The API in the same run (``api_seconds``, 0 skips it): one client sending one segment a request,
  one after another (p50 beside a bare in-process PyTorch fp32 encode of one segment), and 20
  locust clients without pause between requests (segments/s, errors, p50/p99), each with
  micro-batching on (the default ``PRECODE_BATCH_WAIT_MS``) and off, against `precode serve` on
  127.0.0.1 with a fresh PRECODE_HOME; locust runs on the same machine.
- The same model's quality on real data with each backend (``npt_quotes_dev``: construct kappa and
  top-2, as ``eval.bench.real_data`` scores them), where the reference data is there.
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
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

BATCH_SIZES = (1, 8, 64)
TORCH_BATCH = 32
API_CLIENTS = 20
API_SEQUENTIAL = 200  # one-segment requests, one after another
ROOT = Path(__file__).resolve().parents[2]


def segment_texts(excerpts, count_tokens, n: int = 4_000, tokens: int = 50, seed: int = 0
                  ) -> list[str]:
    """``n`` participant texts of about ``tokens`` tokens: the seed corpus's participant turns,
    shuffled, run together and cut into pieces of that many tokens (at word ends)."""
    import random

    rng = random.Random(seed)
    turns = [e.text for e in excerpts if e.meta.get("speaker_role") != "interviewer"]
    out: list[str] = []
    words: list[str] = []
    while len(out) < n:
        rng.shuffle(turns)
        for turn in turns:
            words.extend(turn.split())
            while len(words) >= tokens and len(out) < n:
                cut = _words_for(words, count_tokens, tokens)
                out.append(" ".join(words[:cut]))
                del words[:cut]
    return out


def _words_for(words: list[str], count_tokens, tokens: int) -> int:
    """How many of ``words`` make up about ``tokens`` word-piece tokens."""
    counts = [c - 2 for c in count_tokens(words[:tokens])]  # less [CLS] and [SEP]
    used = n = 0
    while n < len(counts) and used < tokens:
        used += counts[n]
        n += 1
    return n


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children) of ``fn()``."""
    def cpu() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    w, c = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - w, cpu() - c


def backend_speed(model_dir: Path, texts: list[str], workdir: Path, *, n_docs: int = 40,
                  log=print) -> dict:
    """Torch fp32 and int8 ONNX encoding alone and `precode code` end to end, on ``texts``."""
    from models.suggester import Suggester

    torch_model = Suggester.load(model_dir, backend="torch")
    onnx_model = Suggester.load(model_dir, backend="onnx")
    n = len(texts)
    mean_tokens = statistics.mean(map(len, onnx_model.encoder.token_ids(texts)))
    folder = workdir / "transcripts"
    folder.mkdir(parents=True, exist_ok=True)
    per_doc = -(-n // n_docs)
    for d in range(n_docs):
        turns = texts[d * per_doc:(d + 1) * per_doc]
        (folder / f"interview_{d + 1:03d}.txt").write_text(
            "\n\n".join(f"P{d + 1}: {t}" for t in turns) + "\n", encoding="utf-8")
    # warm-up, so that neither backend pays for first-call allocations in the timing
    torch_model.embed(texts[:64], batch_size=TORCH_BATCH)
    onnx_model.embed(texts[:64])

    def torch_encode():
        torch_model.embed(texts, batch_size=TORCH_BATCH)

    rows: dict[str, dict] = {}
    log(f"torch fp32 encoding {n} texts")
    torch_first = _timed(torch_encode)
    log(f"int8 ONNX encoding {n} texts")
    wall, cpu = _timed(lambda: onnx_model.embed(texts))
    rows["int8_encode"] = {"seconds": wall, "cpu_seconds": cpu}
    log(f"precode code on {n_docs} transcripts ({n} segments), model loading included")
    env = {**os.environ, "PRECODE_HOME": str(workdir / "home")}
    precode = Path(sys.executable).with_name("precode")
    command = [str(precode) if precode.exists() else "precode", "code", str(folder), "--out",
               str(workdir / "out.jsonl"), "--model", str(model_dir)]

    def end_to_end():
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[2])

    wall, cpu = _timed(end_to_end)
    coded = sum(1 for _ in (workdir / "out.jsonl").open(encoding="utf-8"))
    rows["end_to_end"] = {"seconds": wall, "cpu_seconds": cpu, "segments": coded}
    log(f"torch fp32 encoding {n} texts again")
    torch_second = _timed(torch_encode)
    rows["torch_encode"] = {"seconds": (torch_first[0] + torch_second[0]) / 2,
                            "cpu_seconds": (torch_first[1] + torch_second[1]) / 2,
                            "runs_seconds": [torch_first[0], torch_second[0]]}
    for row in rows.values():
        row["per_s"] = n / row["seconds"]
        row["cpu_ms_per_segment"] = 1000 * row["cpu_seconds"] / n
    base = rows["torch_encode"]
    for row in rows.values():
        row["speedup"] = row["per_s"] / base["per_s"]
        row["cpu_speedup"] = base["cpu_seconds"] / row["cpu_seconds"]
    a = torch_model.embed(texts[:1000], batch_size=TORCH_BATCH)
    b = onnx_model.embed(texts[:1000])
    cos = (a * b).sum(axis=1)
    return {"segments": n, "mean_tokens": mean_tokens, "documents": n_docs, "rows": rows,
            "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "export": onnx_model.encoder.settings}


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _bin(name: str) -> str | None:
    """A console script of this environment (precode, locust), else the one on PATH."""
    import shutil

    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else shutil.which(name)


@contextmanager
def _serving(model_dir: Path, env: dict, log_path: Path, *, timeout: float = 300):
    """``precode serve`` of ``model_dir`` on a free port of 127.0.0.1, until it is ready; yields
    its address and stops it (Ctrl-C) afterwards."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    host = f"http://127.0.0.1:{port}"
    with log_path.open("a") as out:
        proc = subprocess.Popen([_bin("precode") or "precode", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--model", str(model_dir)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{host}/readyz", timeout=2) as res:
                    if res.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"precode serve did not become ready (log: {log_path})")
            time.sleep(0.5)
        yield host
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _sequential(host: str, token: str, texts: list[str], *, limit_s: float) -> dict:
    """One client: one segment a request, each sent when the last was answered (one kept-alive
    connection), for ``texts`` or ``limit_s`` seconds."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(host)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(text: str) -> int:
        conn.request("POST", "/v1/suggest", headers=headers,
                     body=json.dumps({"segments": [{"id": "s", "text": text}]}))
        res = conn.getresponse()
        res.read()
        return res.status

    for text in texts[:10]:  # warm-up
        send(text)
    latencies, errors = [], 0
    start = time.perf_counter()
    for text in texts:
        t = time.perf_counter()
        errors += send(text) != 200
        latencies.append(1000 * (time.perf_counter() - t))
        if time.perf_counter() - start > limit_s:
            break
    seconds = time.perf_counter() - start
    conn.close()
    return {"requests": len(latencies), "errors": errors, "segments_per_s": len(latencies) / seconds,
            "p50_ms": _percentile(latencies, 50), "p99_ms": _percentile(latencies, 99)}


def _locust(host: str, token: str, workdir: Path, label: str, *, clients: int,
            seconds: float, segments: str = "1-8") -> dict | None:
    """``clients`` locust clients asking for suggestions without pause, for ``seconds``
    (``eval/bench/locustfile.py``, profile ``suggest``), ``segments`` a request."""
    locust = _bin("locust")
    if locust is None:
        return None
    summary = workdir / f"locust-{label}.json"
    env = {**os.environ, "PRECODE_TOKEN": token, "PRECODE_LOAD_PROFILE": "suggest",
           "PRECODE_LOAD_SUMMARY": str(summary), "PRECODE_LOAD_SEGMENTS": segments}
    with (workdir / f"locust-{label}.log").open("w") as out:
        subprocess.run([locust, "-f", str(Path(__file__).with_name("locustfile.py")),
                        "--headless", "-u", str(clients), "-r", str(clients), "-t",
                        f"{max(1, round(seconds))}s", "--host", host, "--only-summary",
                        "--stop-timeout", "10"], env=env, cwd=ROOT, stdout=out,
                       stderr=subprocess.STDOUT, timeout=seconds + 180)
    if not summary.exists():
        return None
    data = json.loads(summary.read_text())
    entry = next((e for e in data["endpoints"] if e["name"] == "POST /v1/suggest"), None)
    if entry is None or not entry["requests"]:
        return {"requests": 0, "errors": data["total"]["failures"]}
    measured = entry["requests"] / entry["requests_per_s"]
    return {"requests": entry["requests"], "errors": data["total"]["failures"],
            "segments": data["suggest_segments"],
            "segments_per_s": data["suggest_segments"] / measured,
            "requests_per_s": entry["requests_per_s"], "p50_ms": entry["p50_ms"],
            "p99_ms": entry["p99_ms"]}


def api_speed(model_dir: Path, texts: list[str], workdir: Path, *, seconds: float = 60,
              clients: int = API_CLIENTS, log=print) -> dict:
    """The API on ``texts`` beside a bare in-process PyTorch fp32 encode of one segment, with
    micro-batching on and off (see the module's docstring); each load run lasts ``seconds``."""
    from models.suggester import Suggester
    from service.settings import Settings

    singles = texts[:API_SEQUENTIAL]
    log(f"PyTorch fp32 encoding one segment at a time ({len(singles)} segments, in-process)")
    torch_model = Suggester.load(model_dir, backend="torch")
    for text in singles[:10]:
        torch_model.embed([text], batch_size=1)
    latencies = []
    for text in singles:
        t = time.perf_counter()
        torch_model.embed([text], batch_size=1)
        latencies.append(1000 * (time.perf_counter() - t))
    del torch_model
    out = {"clients": clients, "seconds": seconds,
           "torch_encode_one": {"segments": len(latencies), "p50_ms": _percentile(latencies, 50),
                                "p99_ms": _percentile(latencies, 99)},
           "settings": []}
    home = workdir / "api-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PRECODE_HOME": str(home), "PRECODE_RATE_LIMIT_PER_MINUTE": "0"}
    env.pop("PRECODE_MODEL_DIR", None)
    created = subprocess.run([_bin("precode") or "precode", "users", "create", "bench", "--admin"],
                             env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    token = created.stdout.strip().splitlines()[-1].strip()
    default_wait = Settings.model_fields["batch_wait_ms"].default
    for wait in (default_wait, 0.0):
        label = f"wait-{wait:g}ms"
        log(f"the API with micro-batching {'on' if wait else 'off'} (PRECODE_BATCH_WAIT_MS="
            f"{wait:g}): one client, then {clients} clients for {seconds:g} s")
        with _serving(model_dir, {**env, "PRECODE_BATCH_WAIT_MS": str(wait)},
                      workdir / f"server-{label}.log") as host:
            single = _sequential(host, token, singles, limit_s=min(seconds, 30))
            load = _locust(host, token, workdir, label, clients=clients, seconds=seconds)
        out["settings"].append({"batch_wait_ms": wait, "single": single, "load": load})
    return out


def backend_quality(model_dir: Path, quotes) -> dict:
    """Construct kappa and top-2 on the real quotes, for the same model with each backend."""
    import numpy as np

    from eval.bench.datasets import NPT_CONSTRUCTS
    from eval.bench.real_data import _npt_entry
    from models.suggester import Suggester

    truth = [NPT_CONSTRUCTS.index(q.codes[0]) for q in quotes]
    texts = [q.text for q in quotes]
    out = {"dataset": "npt_quotes_dev", "n_quotes": len(quotes), "backends": {}}
    for backend in ("torch", "onnx"):
        model = Suggester.load(model_dir, backend=backend)
        t = time.perf_counter()
        conf, columns, _, _ = model.confidences(model.embed(texts), texts)
        conf = np.column_stack([conf[:, columns.index(c)] if c in columns else
                                np.zeros(len(texts)) for c in NPT_CONSTRUCTS])
        limits = np.array([model.calibration["thresholds"].get(c, 0.5) for c in NPT_CONSTRUCTS])
        entry = _npt_entry(conf, conf >= limits, truth,
                           model.manifest.get("n_excerpts", 0), time.perf_counter() - t)
        out["backends"][backend] = {k: entry[k] for k in ("kappa", "top2", "accuracy", "ece",
                                                          "suggested_share",
                                                          "suggestion_precision")}
    out["kappa_lost"] = out["backends"]["torch"]["kappa"] - out["backends"]["onnx"]["kappa"]
    return out


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
        index_sizes=(2_000, 5_000, 10_000, 20_000, 100_000), n_segments: int = 4_000,
        api_seconds: float = 60) -> Path:
    import tempfile

    import torch

    backends = quality = api = None
    if excerpts and suggester.path is not None:
        with tempfile.TemporaryDirectory(prefix="precode-bench-") as tmp:
            segments = segment_texts(excerpts, _token_counter(suggester.path), n_segments)
            backends = backend_speed(suggester.path, segments, Path(tmp), log=log)
            if api_seconds > 0:
                api = api_speed(suggester.path, segments, Path(tmp), seconds=api_seconds,
                                log=log)
        quality = _real_quality(suggester.path, log)
    log("timing encoding and suggestion")
    speed = model_speed(suggester, texts)
    log("timing exact and HNSW search")
    index = index_speed(suggester.index.vectors, sizes=index_sizes)
    batch = refit = None
    if excerpts:
        with tempfile.TemporaryDirectory(prefix="precode-bench-") as tmp:
            log("pre-coding a folder of 50 transcripts")
            batch = batch_speed(suggester, excerpts, Path(tmp))
            log("refitting head and index")
            refit = refit_speed(suggester, excerpts, Path(tmp))
    from models.onnx_encoder import int8_instructions

    machine = (f"{platform.machine()}, {torch.get_num_threads()} threads, "
               f"{'GPU' if torch.cuda.is_available() else 'CPU only'}, int8 instructions: "
               f"{int8_instructions()}")
    manifest = suggester.manifest
    result = {"machine": machine, "model": str(suggester.path), "backend": suggester.backend,
              "backends": backends, "quality": quality, "api": api, "speed": speed,
              "index": index,
              "batch": batch, "refit": refit,
              "training_seconds": manifest.get("training_seconds"),
              "training_excerpts": manifest.get("n_excerpts")}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "speed.json").write_text(json.dumps(result, indent=2))
    lines = ["# Speed", "", f"Written by `precode bench speed` on {machine}.", ""]
    lines += _backend_lines(backends, quality)
    lines += api_lines(api)
    lines += ["## Encoding and suggestion", "",
              f"With the {suggester.backend} encoder. Medians of 3 runs.", "",
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


def _token_counter(model_dir: Path):
    """Tokens per text (with [CLS] and [SEP]) as the model's encoder counts them."""
    from models.suggester import Suggester

    encoder = Suggester.load(model_dir, backend="onnx").encoder
    return lambda texts: [len(ids) for ids in encoder.token_ids(texts)]


def _real_quality(model_dir: Path, log) -> dict | None:
    from corpus.errors import PrecodeInputError
    from eval.bench.datasets import load_npt_quotes

    try:
        quotes = load_npt_quotes()
    except PrecodeInputError as exc:
        log(f"no real-data check of the backends: {exc}")
        return None
    log(f"scoring {len(quotes)} real quotes with each backend")
    return backend_quality(model_dir, quotes)


def _backend_lines(backends: dict | None, quality: dict | None) -> list[str]:
    if not backends:
        return []
    r = backends["rows"]
    names = {"torch_encode": f"PyTorch fp32, encoding only (sentence-transformers, batch "
                             f"{TORCH_BATCH}; mean of a run before and one after the others)",
             "int8_encode": "int8 ONNX, encoding only (the default on CPU)",
             "end_to_end": "`precode code`, end to end (new process: start, imports, model "
                           "loading, reading, segmenting, suggesting with evidence, writing)"}
    lines = ["## The encoder's backends, side by side", "",
             f"{backends['segments']:,} participant texts of about {backends['mean_tokens']:.0f} "
             f"tokens (seed corpus turns run together and cut), in {backends['documents']} "
             "transcripts for `precode code`; all timed in this one run, so only the ratios "
             "carry over to another machine or load. CPU seconds (all threads, and the child "
             "process for `precode code`) are less sensitive to other work on the machine than "
             "wall-clock seconds.", "",
             "| what | segments/s | x torch | CPU ms / segment | x torch (CPU) |",
             "|---|---|---|---|---|"]
    for key in ("torch_encode", "int8_encode", "end_to_end"):
        row = r[key]
        lines.append(f"| {names[key]} | {row['per_s']:.1f} | {row['speedup']:.2f} | "
                     f"{row['cpu_ms_per_segment']:.2f} | {row['cpu_speedup']:.2f} |")
    runs = r["torch_encode"]["runs_seconds"]
    lines += ["", f"PyTorch runs: {runs[0]:.1f} s and {runs[1]:.1f} s. Int8 embeddings against "
              f"fp32: cosine {backends['cosine_mean']:.4f} on average, "
              f"{backends['cosine_min']:.4f} at worst (first 1,000 texts). Export: "
              f"`{json.dumps(backends['export'], sort_keys=True)}`.", ""]
    if quality:
        b = quality["backends"]
        lines += ["## Quality with each backend", "",
                  f"The same model on the {quality['n_quotes']} real quotes of "
                  "`npt_quotes_dev` (never trained on): the construct with the highest "
                  "confidence against the authors' construct, as `eval.bench.real_data` scores "
                  "it.", "",
                  "| backend | kappa | top-2 | accuracy | ECE | suggested | precision |",
                  "|---|---|---|---|---|---|---|"]
        for name, e in b.items():
            precision = e["suggestion_precision"]
            lines.append(f"| {name} | {e['kappa']:.3f} | {e['top2']:.3f} | {e['accuracy']:.3f} | "
                         f"{e['ece']:.3f} | {e['suggested_share']:.2f} | "
                         f"{'-' if precision is None else f'{precision:.2f}'} |")
        lines += ["", f"Kappa lost to int8: {quality['kappa_lost']:+.3f} (the bar: at most "
                  "0.010).", ""]
    return lines


def api_lines(api: dict | None) -> list[str]:
    """The API section of speed.md."""
    if not api:
        return []
    one = api["torch_encode_one"]
    lines = ["## The API", "",
             f"`precode serve` on 127.0.0.1 (one process, a fresh PRECODE_HOME, no rate limit), "
             "in the same run: one client sending one segment a request (the texts above), each "
             f"when the last was answered; then {api['clients']} locust clients "
             "(`eval/bench/locustfile.py`, profile `suggest`: 1-8 seed-corpus turns a request, "
             f"no pause between requests) for {api['seconds']:g} s, locust on the same machine. "
             "Micro-batching on: concurrent requests are suggested together after waiting at "
             "most `PRECODE_BATCH_WAIT_MS`; off: 0. Latencies are measured by the client.", "",
             "| what | segments/s | errors | p50 ms | p99 ms |", "|---|---|---|---|---|",
             f"| PyTorch fp32, one segment encoded in-process (no server, no head or evidence) "
             f"| - | - | {one['p50_ms']:.1f} | {one['p99_ms']:.1f} |"]
    for setting in api["settings"]:
        wait = setting["batch_wait_ms"]
        mode = f"micro-batching on ({wait:g} ms)" if wait else "micro-batching off"
        single = setting["single"]
        lines.append(f"| API, one client, one segment a request, {mode} | "
                     f"{single['segments_per_s']:.1f} | {single['errors']} | "
                     f"{single['p50_ms']:.1f} | {single['p99_ms']:.1f} |")
        load = setting["load"]
        if load is None:
            lines.append(f"| API, {api['clients']} clients, {mode} | (locust not installed) "
                         "| | | |")
        elif load.get("requests"):
            lines.append(f"| API, {api['clients']} clients (locust, "
                         f"{load['segments'] / load['requests']:.1f} segments a request), "
                         f"{mode} | {load['segments_per_s']:.1f} | {load['errors']} | "
                         f"{load['p50_ms']:.0f} | {load['p99_ms']:.0f} |")
        else:
            lines.append(f"| API, {api['clients']} clients, {mode} | 0 | {load['errors']} | | |")
    return lines + [""]
