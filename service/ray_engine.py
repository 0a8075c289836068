"""Pre-coding on a Ray cluster: ``precode code INPUTS --out OUT --engine ray [--address ADDR]``.

The work is cut as one process cuts it, so that the output is the same to the byte:

1. Ray Data reads the input files (one row per file) and segments them; each file's segments are
   cut into chunks of at most ``SUGGEST_CHUNK`` coded segments, where ``service.batch`` cuts them.
2. ``map_batches`` sends the chunks to a pool of actors, each of which loads the model once (with
   its own number of PyTorch threads) and fills in the suggestions as one process does.
3. The driver puts each file's chunks back together in order, writes the file's part to
   ``OUT.parts/`` as one process does (so either engine resumes a run the other began), and at the
   end writes OUT with the same writer, in input order.

An actor that dies is restarted by Ray and its batch run again (``max_restarts``,
``max_task_retries``); the driver keeps the first result of each chunk and checks that every chunk
of every file came back, so a retried batch neither duplicates nor loses segments.

Ray is an optional extra (``pip install precode[ray]``); this module imports it only when used.
Without an address a local cluster is started and stopped again; with one (``ray://`` or
``HOST:PORT``) the inputs and the model directory must be readable at the same paths on every
node, as Ray Data expects of local paths.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from corpus.errors import PrecodeInputError
from corpus.excerpts import context_meta
from service.batch import (
    SUGGEST_CHUNK,
    PrecodeOptions,
    Summary,
    collect_inputs,
    open_parts,
    part_file,
    read_part,
    segment_records,
    suggest_records,
    write_part,
)

# A file of this name, when set in the driver's environment, makes the first actor batch that
# finds it missing create it and end its process abruptly (after computing, before answering):
# the fault-injection switch the tests use to kill an actor mid-batch.
CRASH_ONCE_ENV = "PRECODE_RAY_CRASH_ONCE"
ACTOR_RESTARTS = 3  # restarts of a dead actor, and reruns of the batch it held


def require_ray(field: str = "--engine"):
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise PrecodeInputError("the ray engine needs Ray: install precode[ray] "
                                "(pip install 'precode[ray]')", field=field) from None
    return ray


@dataclass
class RayOptions:
    address: str | None = None  # an existing cluster; None: start a local one
    actors: int | None = None  # actors in the pool (default: the cluster's CPUs // threads)
    threads: int = 1  # PyTorch threads (and CPUs reserved) per actor
    num_cpus: int | None = None  # CPUs of a local cluster (default: all of this machine's)
    temp_dir: str | None = None  # a local cluster's session folder (default: Ray's /tmp/ray)


# ---- the cluster ------------------------------------------------------------------------------
def connect(opts: RayOptions) -> bool:
    """Join the cluster at ``opts.address``, or start a local one; True when this call started
    (and so should stop) it. A Ray already initialised in this process is used as it is."""
    ray = require_ray()
    if opts.address:
        check_address(opts.address)
    if ray.is_initialized():
        return False
    kwargs: dict = {"logging_level": logging.WARNING, "log_to_driver": False}
    if opts.address:
        try:
            ray.init(address=opts.address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise PrecodeInputError(f"cannot reach the Ray cluster at {opts.address}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else exc}",
                                    field="--address") from None
    else:
        # Ray lowers its workers' priority (nice 15) by default; the actors do this run's work
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=opts.num_cpus, include_dashboard=False, _temp_dir=opts.temp_dir,
                 **kwargs)
    return True


def check_address(address: str, timeout: float = 5.0) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) that does not answer is said at once: Ray itself
    would keep trying for minutes."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and the like: left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise PrecodeInputError(f"cannot reach the Ray cluster at {address} "
                                f"({exc.strerror or type(exc).__name__})",
                                field="--address") from None


def _pool_size(ray, opts: RayOptions) -> int:
    if opts.actors is not None:
        if opts.actors < 1:
            raise PrecodeInputError("must be 1 or more", field="--actors")
        return opts.actors
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cpus // max(1, opts.threads))


# ---- the steps that run on the cluster --------------------------------------------------------
def chunk_records(records: list[dict]) -> list[list[dict]]:
    """A file's records cut after every ``SUGGEST_CHUNK``-th coded one (at least one chunk)."""
    chunks, current, coded = [], [], 0
    for rec in records:
        if rec["coded"] and coded == SUGGEST_CHUNK:
            chunks.append(current)
            current, coded = [], 0
        current.append(rec)
        coded += rec["coded"]
    chunks.append(current)
    return chunks


def segment_file(row: dict, options: dict) -> list[dict]:
    """Ray Data ``flat_map``: one input file in, its chunks out (or one row with the error)."""
    try:
        records = segment_records(Path(row["path"]), row["document"], PrecodeOptions(**options))
    except PrecodeInputError as exc:  # named by the path as the user gave it
        said = PrecodeInputError(exc.reason, source=row["source"] if exc.source else None,
                                 line=exc.line, field=exc.field)
        return [{"index": row["index"], "chunk": 0, "n_chunks": 1, "records": str(said),
                 "error": exc.reason}]
    chunks = chunk_records(records)
    return [{"index": row["index"], "chunk": k, "n_chunks": len(chunks),
             "records": json.dumps(chunk, ensure_ascii=False), "error": ""}
            for k, chunk in enumerate(chunks)]


class SuggestActor:
    """One model per actor, loaded once (with the first chunk); a batch is one chunk, suggested
    in the calls one process would make."""

    def __init__(self, model_dir: str, options: dict, threads: int, crash_once: str | None,
                 chunk: int | None = SUGGEST_CHUNK):
        import torch

        torch.set_num_threads(threads)
        self.model_dir = model_dir
        self.suggester = None  # loaded with the first chunk to code
        self.options = PrecodeOptions(**options)
        self.crash_once = crash_once
        self.chunk = chunk

    def _model(self):
        if self.suggester is None:
            import models.encoder  # noqa: F401  (offline mode, set before any hub library loads)
            from models.suggester import Suggester

            self.suggester = Suggester.load(self.model_dir)
        return self.suggester

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        out = []
        for text, error in zip(batch["records"], batch["error"], strict=True):
            if error:
                out.append(text)
                continue
            records = suggest_records(json.loads(text), self._model(), self.options,
                                      chunk=self.chunk)
            out.append(json.dumps(records, ensure_ascii=False))
        if self.crash_once:
            try:
                os.close(os.open(self.crash_once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return {**batch, "records": np.array(out, dtype=object)}


# ---- the driver -------------------------------------------------------------------------------
class _ModelFacts:
    """What the writers ask of the model (its folder, manifest and codebook), without loading the
    encoder on the driver unless a writer needs the codebook."""

    def __init__(self, model_dir: Path):
        from models.suggester import read_manifest

        self.path = Path(model_dir)
        self.manifest = read_manifest(self.path)

    @cached_property
    def codebook(self):
        from models.suggester import Suggester

        return Suggester.load(self.path).codebook


def run_batch_ray(inputs: list[Path], out: Path, model_dir: Path, options: PrecodeOptions, *,
                  writer: Callable[..., None], ray_options: RayOptions | None = None,
                  on_document: Callable[[str, int], None] | None = None,
                  on_error: Callable[[str, str], None] | None = None,
                  files: list[tuple[Path, str]] | None = None) -> Summary:
    """``service.batch.run_batch`` on a Ray cluster: the same parts, resume, output and summary."""
    opts = ray_options or RayOptions()
    if opts.threads < 1:
        raise PrecodeInputError("must be 1 or more", field="--threads")
    files = files if files is not None else collect_inputs(inputs)
    model = _ModelFacts(model_dir)
    parts = open_parts(out, options, model.manifest, model.path)

    todo = [i for i, (_, document) in enumerate(files)
            if not part_file(parts, document).exists()]
    summary = Summary(resumed=len(files) - len(todo))
    failed: dict[int, str] = {}
    if todo:
        failed = _run_on_cluster(files, todo, parts, model.path, options, opts,
                                 on_document=on_document, on_error=on_error)
    all_records: list[dict] = []
    sources: dict[str, Path] = {}
    for i, (path, document) in enumerate(files):
        if i in failed:
            summary.failed.append((str(path), failed[i]))
            continue
        part = part_file(parts, document)
        records = read_part(part)
        summary.add_document(records, path, sources)
        all_records.extend(records)
        if on_document and i not in todo:
            on_document(document, len(records))
    if summary.documents or not summary.failed:  # nothing read: no empty output
        writer(all_records, out, model, sources=sources)
    shutil.rmtree(parts, ignore_errors=True)
    return summary


_SESSION = threading.Lock()  # one Ray session at a time in a process (the server's job threads)


@contextmanager
def _session(opts: RayOptions):
    """The cluster for one run: joined or started, and let go (a started one stopped) after."""
    with _SESSION:
        ray = require_ray()
        started = connect(opts)
        try:
            import ray.data

            ray.data.DataContext.get_current().enable_progress_bars = False  # callers show it
            logging.getLogger("ray.data").setLevel(logging.ERROR)
            yield ray
        finally:
            if started:
                ray.shutdown()


def _coded_by_actors(ray, rows: list[dict], model_dir: Path, options: PrecodeOptions,
                     opts: RayOptions, *, read_files: bool):
    """The dataset of coded chunks: ``rows`` are input files (``read_files``, cut into chunks
    as one process cuts them) or documents, each suggested in one call."""
    pool = _pool_size(ray, opts)
    option_dict = asdict(options)
    with warnings.catch_warnings():
        # Ray 2.60 takes the restart limits only as "remote args", which it calls deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 8 * pool))
        if read_files:
            ds = ds.flat_map(segment_file, fn_kwargs={"options": option_dict}, num_cpus=0)
        return ds.map_batches(SuggestActor, batch_size=1, batch_format="numpy",
                              fn_constructor_kwargs={
                                  "model_dir": str(Path(model_dir).resolve()),
                                  "options": option_dict, "threads": opts.threads,
                                  "crash_once": os.environ.get(CRASH_ONCE_ENV) or None,
                                  "chunk": SUGGEST_CHUNK if read_files else None},
                              compute=ray.data.ActorPoolStrategy(size=pool),
                              num_cpus=opts.threads, max_restarts=ACTOR_RESTARTS,
                              max_task_retries=ACTOR_RESTARTS)


def _run_on_cluster(files: list[tuple[Path, str]], todo: list[int], parts: Path, model_dir: Path,
                    options: PrecodeOptions, opts: RayOptions, *,
                    on_document: Callable[[str, int], None] | None,
                    on_error: Callable[[str, str], None] | None) -> dict[int, str]:
    """Code the files ``todo`` (indices into ``files``) on the cluster, writing each file's part
    as soon as all its chunks are back. Returns the files that could not be read, with why."""
    rows = [{"index": i, "path": str(files[i][0].resolve()), "source": str(files[i][0]),
             "document": files[i][1]} for i in todo]
    chunks: dict[int, dict[int, list[dict]]] = {}
    failed: dict[int, str] = {}
    with _session(opts) as ray:
        for row in _coded_by_actors(ray, rows, model_dir, options, opts,
                                    read_files=True).iter_rows():
            i, k, n = int(row["index"]), int(row["chunk"]), int(row["n_chunks"])
            path, document = files[i]
            if i in failed or part_file(parts, document).exists():
                continue  # a batch that ran twice: its first answer is kept
            if row["error"]:
                failed[i] = str(row["error"])
                if on_error:
                    on_error(str(path), str(row["records"]))
                continue
            got = chunks.setdefault(i, {})
            got.setdefault(k, json.loads(row["records"]))
            if len(got) == n:
                records = [r for c in range(n) for r in got[c]]
                write_part(part_file(parts, document), records)
                del chunks[i]
                if on_document:
                    on_document(document, len(records))
    missing = [files[i][1] for i in todo
               if i not in failed and not part_file(parts, files[i][1]).exists()]
    if missing:
        raise RuntimeError(f"the cluster returned no result for {len(missing)} document(s) "
                           f"(first: {missing[0]}); rerun to resume")
    return failed


# ---- pre-coding jobs of the service -----------------------------------------------------------
def suggest_on_ray(model_dir: Path, documents: list[list[str]], options: PrecodeOptions,
                   opts: RayOptions, contexts: list[list[str | None]] | None = None
                   ) -> Iterator[tuple[int, list]]:
    """Suggestions for each document's texts (``contexts``: the question each answers), each
    document in one call of the model as the service's own job worker makes it: yields
    ``(index, [SegmentSuggestions per text])`` as the documents come back (each once), then
    checks that none is missing."""
    from models.suggester import Evidence, SegmentSuggestions, Suggestion

    contexts = contexts or [[None] * len(texts) for texts in documents]
    rows = [{"index": i, "chunk": 0, "n_chunks": 1, "error": "",
             "records": json.dumps([{"text": t, "coded": True, "suggestions": [],
                                     **context_meta(c)}
                                    for t, c in zip(texts, contexts[i], strict=True)],
                                   ensure_ascii=False)}
            for i, texts in enumerate(documents) if texts]
    seen: set[int] = set()
    for i, texts in enumerate(documents):
        if not texts:
            seen.add(i)
            yield i, []
    if rows:
        with _session(opts) as ray:
            for row in _coded_by_actors(ray, rows, model_dir, options, opts,
                                        read_files=False).iter_rows():
                i = int(row["index"])
                if i in seen:
                    continue  # a batch that ran twice: its first answer is kept
                seen.add(i)
                yield i, [SegmentSuggestions(
                    suggestions=[Suggestion(**{**s, "evidence": [Evidence(**e)
                                                                 for e in s["evidence"]]})
                                 for s in rec["suggestions"]], scores=rec.get("scores"))
                    for rec in json.loads(row["records"])]
    if len(seen) != len(documents):
        raise RuntimeError(f"the cluster returned no result for {len(documents) - len(seen)} "
                           "document(s)")
