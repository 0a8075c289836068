"""The agreement report of a project as a background computation: cached per data version, run
once however many people ask for it, in a separate process with a time limit when it is large.

A project's report only changes when its data does (a decision, a pre-coding, an upload, a new
codebook), so each report is kept under the project's data version and the request's
parameters. A large one (units x bootstrap resamples past ``agreement_inline_work``) runs in a
child process: it is stopped at ``agreement_time_limit_seconds``, whether or not anyone still
waits for it, and when the server shuts down. A request waits ``agreement_wait_seconds`` for
it, then is answered 202 with ``Retry-After``; asking again joins the same computation.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from corpus.errors import PrecodeInputError
from service.db.models import Document, Project, Suggestion
from service.services.reviews import review_mark

log = logging.getLogger("precode.service")

CACHED = 64  # reports kept per server process


class TooLong(Exception):
    """The computation passed its time limit and was stopped."""


@dataclass(frozen=True)
class Params:
    mode: str
    level: str
    bootstrap: int
    seed: int
    pairwise: bool = False  # one report per pair of coders (the model one of them)


def data_version(*, session: Session, project: Project) -> str:
    """Changes whenever anything the report is made of does."""
    reviews = review_mark(session=session, project_id=project.id)
    suggestions = session.execute(select(func.max(Suggestion.id), func.count(Suggestion.id))
                                  .where(Suggestion.project_id == project.id)).one()
    documents = session.execute(select(func.max(Document.id), func.count(Document.id))
                                .where(Document.project_id == project.id)).one()
    book = hashlib.sha256(project.codebook_yaml.encode()).hexdigest()[:16]
    return f"{reviews}|{tuple(suggestions)}|{tuple(documents)}|{book}"


def _report(codings, codebook, params: Params) -> dict:
    from eval.agreement_report import agreement_report, find_disagreements

    if params.pairwise:
        return _pairwise(codings, codebook, params)
    report = agreement_report(codings, mode=params.mode, level=params.level, codebook=codebook,
                              n_boot=params.bootstrap, seed=params.seed)
    return {**report, "disagreements": find_disagreements(codings)}


PAIR_KEYS = ("n_units", "n_units_compared", "coders", "overall", "per_code", "warnings")


def _pairwise(codings, codebook, params: Params) -> dict:
    """Each coder against the model and against each other coder, overall and per code: for
    each pair the report ``precode agree`` gives on those two coders' codings alone."""
    from itertools import combinations

    from eval.agreement_report import agreement_report
    from service.services.users import MODEL_USER

    coders = list(codings.coders)
    if MODEL_USER in coders:  # the model first: each coder against it
        coders = [MODEL_USER] + [c for c in coders if c != MODEL_USER]
    pairs = []
    for a, b in combinations(coders, 2):
        pair = {a: codings[a], b: codings[b]}
        entry = {"a": a, "b": b, "kind": "model" if MODEL_USER in (a, b) else "coders"}
        try:
            report = agreement_report(pair, mode=params.mode, level=params.level,
                                      codebook=codebook, n_boot=params.bootstrap,
                                      seed=params.seed)
            entry.update({k: report[k] for k in PAIR_KEYS if k in report})
        except PrecodeInputError as exc:
            entry["error"] = exc.reason
        pairs.append(entry)
    return {"coders": coders, "mode": params.mode, "level": params.level,
            "n_boot": params.bootstrap, "seed": params.seed, "pairs": pairs}


def _child(conn, codings, codebook, params: Params) -> None:
    try:
        conn.send(("ok", _report(codings, codebook, params)))
    except PrecodeInputError as exc:
        conn.send(("input", exc))
    except Exception as exc:  # noqa: BLE001 - sent back as its type only
        conn.send(("error", type(exc).__name__))
    finally:
        conn.close()


class AgreementRunner:
    def __init__(self, *, inline_work: int, time_limit: float):
        self.inline_work, self.time_limit = inline_work, time_limit
        self._done: OrderedDict[tuple, tuple[str, object]] = OrderedDict()
        self._running: dict[tuple, Future] = {}
        self._children: set = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="agreement")
        self._closed = False

    def result(self, key: tuple) -> tuple[str, object] | None:
        """("ok", report), ("too-long", seconds) or ("error", the input error) when done for
        this key, else None."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            return None

    def running(self, key: tuple) -> Future | None:
        with self._lock:
            return self._running.get(key)

    def submit(self, key: tuple, codings, codebook, params: Params) -> Future:
        """Start the computation for ``key`` (or join the one running)."""
        with self._lock:
            if key in self._running:
                return self._running[key]
            work = len(getattr(codings, "units", ())) * (params.bootstrap + 1)
            future = self._pool.submit(self._run, key, codings, codebook, params,
                                       work > self.inline_work)
            self._running[key] = future
            return future

    def _run(self, key, codings, codebook, params: Params, separate: bool):
        outcome = None
        try:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            outcome = (("ok", self._in_child(codings, codebook, params)) if separate
                       else ("ok", _report(codings, codebook, params)))
        except TooLong:
            log.warning("agreement of project %s stopped at its time limit of %s s", key[0],
                        self.time_limit)
            outcome = ("too-long", self.time_limit)
        except PrecodeInputError as exc:  # e.g. nothing to compare yet: the same until data changes
            outcome = ("error", exc)
        finally:
            with self._lock:
                self._running.pop(key, None)
                if outcome is not None:
                    self._done[key] = outcome
                    while len(self._done) > CACHED:
                        self._done.popitem(last=False)
        return outcome

    def _in_child(self, codings, codebook, params: Params) -> dict:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(send, codings, codebook, params),
                                daemon=True)
        child.start()
        send.close()
        self._children.add(child)
        try:
            if not receive.poll(self.time_limit):
                raise TooLong
            status, value = receive.recv()
        except EOFError:  # the child died (killed at shutdown)
            raise RuntimeError("the agreement computation stopped") from None
        finally:
            if child.is_alive():
                child.kill()
            child.join(5)
            self._children.discard(child)
            receive.close()
        if status == "input":
            raise value
        if status != "ok":
            raise RuntimeError(f"the agreement computation failed ({value})")
        return value

    def close(self) -> None:
        """Stop every computation (at shutdown): nothing keeps the server from stopping."""
        self._closed = True
        for child in list(self._children):
            child.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
