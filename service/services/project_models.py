"""Each project's Suggester: copy-on-write from the model version it points at, kept level with
what its people decided since that version.

The database is the one source of truth, so that several server processes agree: before each
use, a project's loaded model compares its model version and the last review it has taken in with
the database's, and catches up — a new version is loaded; segments decided since are taken out of
its exemplar index and put back with the codes people settled on (none, after a rejection).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from models.suggester import SegmentSuggestions, Suggester, SuggestionRequest
from service.db.models import Segment
from service.services.documents import segment_contexts
from service.services.projects import current_version
from service.services.reviews import decided_codes, review_mark, segments_reviewed_after

log = logging.getLogger("precode.service")


SEGMENT_PREFIX = "segment-"


def exemplar_id(segment_id: int) -> str:
    """The id of a project's coded segment in the exemplar index (shown with its evidence)."""
    return f"{SEGMENT_PREFIX}{segment_id}"


@dataclass
class ProjectModel:
    version_id: int
    version: int
    suggester: Suggester
    review_id: int = 0  # the decisions up to this review are in the exemplar index
    n_reviews: int = 0  # how many reviews up to ``review_id`` there were when it was taken in


class ProjectModels:
    """Thread-safe cache of the projects' Suggesters, one lock per project."""

    def __init__(self, sessions: sessionmaker[Session], default: Suggester):
        self._sessions = sessions
        self._bases: dict[str, Suggester] = {str(default.path): default}
        self._held: dict[int, ProjectModel] = {}
        self._locks: dict[int, threading.RLock] = {}
        self._guard = threading.Lock()  # the dicts of locks and held models
        self._loading = threading.Lock()  # the shared base models
        self._default = str(default.path)

    def lock(self, project_id: int) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(project_id, threading.RLock())

    def _base(self, path: str) -> Suggester:
        with self._loading:
            if path not in self._bases:
                self._bases[path] = Suggester.load(Path(path))
            return self._bases[path]

    def _forget_unused_bases(self) -> None:
        """Model versions no project uses any more leave memory (their directories stay)."""
        with self._loading, self._guard:
            used = {self._default, *(str(h.suggester.path) for h in self._held.values())}
            for path in set(self._bases) - used:
                del self._bases[path]

    def get(self, project_id: int) -> ProjectModel:
        """The project's model at its current version, level with every decision so far."""
        with self.lock(project_id), self._sessions() as session:
            version = current_version(session=session, project_id=project_id)
            latest, total = review_mark(session=session, project_id=project_id)
            held = self._held.get(project_id)
            if held is None or held.version_id != version.id:
                n_folded = version.summary.get("n_reviews")
                if n_folded is None:  # version 0, or a version from before the count was kept
                    n_folded = review_mark(session=session, project_id=project_id,
                                           upto=version.folded_review_id)[1]
                held = ProjectModel(version.id, version.version, self._base(version.path).copy(),
                                    review_id=version.folded_review_id, n_reviews=n_folded)
                self._catch_up(session, project_id, held, latest, total)
                with self._guard:
                    self._held[project_id] = held
                self._forget_unused_bases()
            elif (latest, total) != (held.review_id, held.n_reviews):
                self._catch_up(session, project_id, held, latest, total)
            return held

    def held(self, project_id: int) -> ProjectModel:
        """The project's model as last held (``get`` when none is held yet)."""
        with self._guard:
            held = self._held.get(project_id)
        return held if held is not None else self.get(project_id)

    def suggest(self, project_id: int, texts: list[str], **kwargs) -> tuple[ProjectModel, list]:
        with self.lock(project_id):
            held = self.get(project_id)
            return held, held.suggester.suggest(texts, **kwargs) if texts else []

    def suggest_many(self, project_id: int, requests: list[SuggestionRequest]
                     ) -> list[list[SegmentSuggestions]]:
        """Several requests for the project's model in one pass (``Suggester.suggest_many``)."""
        with self.lock(project_id):
            return self.get(project_id).suggester.suggest_many(requests)

    def catch_up(self, project_id: int) -> None:
        """Take in decisions just made (when the project's model is loaded; otherwise loading
        it will), so that the next suggestion shows them as evidence.

        Never waits: when another thread holds the project's model, that thread (or the next
        ``get``, which always catches up first) takes the decisions in. Called after a decision
        was committed, it never fails the request that made it: an error is logged (by type)
        and the next ``get`` tries again. The caller holds no database connection."""
        if project_id not in self._held:
            return
        lock = self.lock(project_id)
        if not lock.acquire(blocking=False):
            return
        try:
            self.get(project_id)
        except Exception as exc:  # noqa: BLE001 - the decision is saved; the model catches up later
            log.warning("project %s: catching up with new decisions failed (%s); the next use "
                        "tries again", project_id, type(exc).__name__)
        finally:
            lock.release()

    @staticmethod
    def _catch_up(session: Session, project_id: int, held: ProjectModel, upto: int,
                  total: int) -> None:
        """Take in the decisions after ``held.review_id`` up to ``upto`` (``total`` reviews in
        all). Should more reviews now lie at or below ``held.review_id`` than when it was taken
        in (with PostgreSQL a decision can commit after a newer one was read), every reviewed
        segment is refolded."""
        late = review_mark(session=session, project_id=project_id,
                           upto=held.review_id)[1] != held.n_reviews
        segment_ids = segments_reviewed_after(session=session, project_id=project_id,
                                              review_id=0 if late else held.review_id, upto=upto)
        if late:
            log.info("project %s: a decision arrived out of order; refolding every reviewed "
                     "segment", project_id)
        if segment_ids:
            ProjectModels._refold(session, project_id, held, segment_ids)
        held.review_id, held.n_reviews = upto, total

    @staticmethod
    def _refold(session: Session, project_id: int, held: ProjectModel,
                segment_ids: list[int]) -> None:
        """Replace these segments' exemplars by what people decided on them now."""
        book = held.suggester.codebook
        codes = decided_codes(session=session, project_id=project_id, segment_ids=segment_ids)
        gone = held.suggester.remove_exemplars({exemplar_id(sid) for sid in segment_ids})
        rows = [(sid, [c for c in cs if c in book]) for sid, cs in sorted(codes.items())]
        rows = [(sid, cs) for sid, cs in rows if cs]
        if rows:
            texts = {s.id: s.text for s in session.query(Segment).where(
                Segment.id.in_([sid for sid, _ in rows]))}
            questions = (segment_contexts(session=session, segment_ids=[s for s, _ in rows])
                         if held.suggester.reads_context else {})
            held.suggester.add_exemplars([texts[sid] for sid, _ in rows],
                                         [cs for _, cs in rows],
                                         [exemplar_id(sid) for sid, _ in rows],
                                         [questions.get(sid) for sid, _ in rows])
        log.info("project %s: exemplar index level with %d decided segment(s) (%d in, %d out)",
                 project_id, len(segment_ids), len(rows), gone)
