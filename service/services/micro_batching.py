"""Micro-batching of suggestion requests: the segments of requests that arrive together for the
same model are suggested in one pass (``Suggester.suggest_many``: one head pass, one exemplar
search, one evidence pass), by one thread per model, and each request is handed its own results,
exactly those it would get alone.

The first request of a batch waits at most ``wait_ms`` (``PRECODE_BATCH_WAIT_MS``) for others to
join it; requests that arrive while a batch runs form the next one, so under load nothing waits
for the window. Batches of every model together run ``concurrency`` at a time
(``PRECODE_INFERENCE_CONCURRENCY``), so that concurrent requests do not oversubscribe the cores.
An error in a batch fails no other request: its requests are then run one by one, each getting
its own answer or its own error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field

from models.suggester import SegmentSuggestions, SuggestionRequest
from service.problems import Problem

log = logging.getLogger("precode.service")

# suggests several requests at once: Suggester.suggest_many, or a project's model's
SuggestMany = Callable[[list[SuggestionRequest]], list[list[SegmentSuggestions]]]

IDLE_SECONDS = 60.0  # a model's thread ends after this long without requests


@dataclass
class _Job:
    request: SuggestionRequest
    suggest_many: SuggestMany
    future: Future = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class _Lane:
    """The requests waiting for one model, and the thread that serves them."""

    def __init__(self, lock: threading.Lock):
        self.jobs: deque[_Job] = deque()
        self.wake = threading.Condition(lock)
        self.thread: threading.Thread | None = None


class SuggestBatcher:
    """Gathers concurrent requests for the same model (``key``) into batches.

    ``wait_ms``: how long the first request of a batch waits for others (0: no micro-batching;
    ``enabled`` is False and callers suggest each request alone). ``max_segments``: a batch takes
    requests until they hold this many segments (one request always fits)."""

    def __init__(self, *, wait_ms: float, max_segments: int, concurrency: int = 1):
        self.wait = max(0.0, wait_ms) / 1000
        self.max_segments = max(1, max_segments)
        self._running = threading.BoundedSemaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self._lanes: dict[Hashable, _Lane] = {}
        self._closed = False

    @property
    def enabled(self) -> bool:
        return self.wait > 0

    def submit(self, key: Hashable, suggest_many: SuggestMany,
               request: SuggestionRequest) -> Future:
        """A future of ``request``'s results (or of the error suggesting it raised).
        ``suggest_many`` is the same for every request with the same ``key``."""
        job = _Job(request, suggest_many)
        with self._lock:
            if self._closed:
                raise Problem(503, "not-ready", "the server is shutting down; try again shortly")
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane(self._lock)
                lane.thread = threading.Thread(target=self._serve, args=(key, lane),
                                               name="precode-suggest-batch", daemon=True)
                lane.thread.start()
            lane.jobs.append(job)
            lane.wake.notify()
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking requests; the threads finish what is queued and end (waited for up to
        ``timeout`` seconds in all)."""
        with self._lock:
            self._closed = True
            lanes = list(self._lanes.values())
            for lane in lanes:
                lane.wake.notify()
        deadline = time.monotonic() + timeout
        for lane in lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))

    # ---- the thread of one model ----------------------------------------------------------------
    def _serve(self, key: Hashable, lane: _Lane) -> None:
        while True:
            with self._lock:
                batch = self._next_batch(key, lane)
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _next_batch(self, key: Hashable, lane: _Lane) -> list[_Job] | None:
        """The next batch (the lock held), [] when its requests were all cancelled, or None
        when the thread is to end (idle, or closed with nothing queued)."""
        while not lane.jobs:
            if self._closed or (not lane.wake.wait(IDLE_SECONDS) and not lane.jobs):
                del self._lanes[key]
                return None
        deadline = lane.jobs[0].arrived + self.wait
        while not self._closed and self._segments(lane.jobs) < self.max_segments:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            lane.wake.wait(left)
        batch, segments = [], 0
        while lane.jobs and (not batch or
                             segments + len(lane.jobs[0].request.texts) <= self.max_segments):
            job = lane.jobs.popleft()
            if job.future.set_running_or_notify_cancel():  # False: its client has gone
                batch.append(job)
                segments += len(job.request.texts)
        return batch

    @staticmethod
    def _segments(jobs) -> int:
        return sum(len(job.request.texts) for job in jobs)

    def _run(self, batch: list[_Job]) -> None:
        with self._running:
            try:
                results = batch[0].suggest_many([job.request for job in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} requests")
            except Exception as exc:  # noqa: BLE001 - handed to the requests, or retried alone
                if len(batch) == 1:
                    batch[0].future.set_exception(exc)
                    return
                log.info("a batch of %d suggestion requests failed (%s); running them one by "
                         "one", len(batch), type(exc).__name__)
                for job in batch:
                    try:
                        [result] = job.suggest_many([job.request])
                    except Exception as one:  # noqa: BLE001 - this request's own error
                        job.future.set_exception(one)
                    else:
                        job.future.set_result(result)
                return
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)
