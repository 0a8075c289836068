"""A small in-process job worker: threads that take queued jobs from the database.

At start-up, jobs a stopped process left ``running`` are re-queued when they can resume
(pre-coding skips the documents already done) or marked failed with the reason "interrupted by a
restart". At shutdown, a pre-coding job stops after its current document and goes back to the
queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from service.services.jobs import JobContext, claim_next, recover_interrupted, run_job

log = logging.getLogger("precode.service")


class JobWorker:
    def __init__(self, ctx: JobContext, *, threads: int = 1, poll_seconds: float = 1.0,
                 on_finish: Callable[[str, str], None] | None = None):
        self.ctx = ctx
        self.n_threads = threads
        self.poll_seconds = poll_seconds
        self.on_finish = on_finish
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        with self.ctx.sessions() as session:
            for job_id, status in recover_interrupted(session=session):
                log.warning("job %s was interrupted by a restart: now %s", job_id, status)
        for i in range(self.n_threads):
            thread = threading.Thread(target=self._loop, name=f"precode-jobs-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        self.ctx.stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self.ctx.stop.is_set():
            try:
                with self.ctx.sessions() as session:
                    job_id = claim_next(session=session)
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away
                log.error("job queue unavailable: %s", type(exc).__name__)
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            kind, status = run_job(self.ctx, job_id)
            if self.on_finish is not None:
                self.on_finish(kind, status)
