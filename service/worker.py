"""A small job worker: threads that take queued jobs from the database, in every server process.

Each process names itself (``host:pid:random``) and holds a lease on the jobs it runs, renewed by
a heartbeat thread. At start-up and at every heartbeat, jobs whose process stopped are recovered
(see ``service.services.jobs``): pre-coding goes back to the queue and resumes with the documents not
yet done, retraining is marked failed with the reason. At shutdown, a pre-coding job stops after
its current document and goes back to the queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from service.services.jobs import (
    JobContext,
    claim_next,
    recover_interrupted,
    renew_leases,
    run_job,
)

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
        self.recover()
        for i in range(self.n_threads):
            thread = threading.Thread(target=self._loop, name=f"precode-jobs-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        heartbeat = threading.Thread(target=self._heartbeat, name="precode-jobs-lease",
                                     daemon=True)
        heartbeat.start()
        self._threads.append(heartbeat)

    def recover(self) -> None:
        with self.ctx.sessions() as session:
            for job_id, status in recover_interrupted(session=session, me=self.ctx.owner):
                log.warning("job %s was interrupted (its server process stopped): now %s",
                            job_id, status)

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        self.ctx.stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _heartbeat(self) -> None:
        """Renew this process's leases, and take over jobs whose process stopped (a lease runs
        out no sooner than a third of its length after its last renewal, so checking as often
        as renewing loses nothing)."""
        every = self.ctx.settings.job_lease_seconds / 3
        while not self.ctx.stop.wait(every):
            try:
                with self.ctx.sessions() as session:
                    renew_leases(session=session, ctx=self.ctx)
                self.recover()
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away
                log.error("could not renew or recover job leases: %s", type(exc).__name__)

    def _loop(self) -> None:
        while not self.ctx.stop.is_set():
            try:
                with self.ctx.sessions() as session:
                    job_id = claim_next(session=session, ctx=self.ctx)
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away
                log.error("job queue unavailable: %s", type(exc).__name__)
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            kind, status = run_job(self.ctx, job_id)
            if self.on_finish is not None and status != "lost":
                self.on_finish(kind, status)
