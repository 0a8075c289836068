"""Each project's Suggester: copy-on-write from the model it points at, plus the codings its
people accepted since that model version (added to its exemplar index at once)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from models.suggester import Suggester
from service.db.models import Segment
from service.services.projects import current_version
from service.services.reviews import decided_codes, segments_reviewed_after

log = logging.getLogger("precode.service")


SEGMENT_PREFIX = "segment-"


def exemplar_id(segment_id: int) -> str:
    """The id of a project's coded segment in the exemplar index (shown with its evidence)."""
    return f"{SEGMENT_PREFIX}{segment_id}"


def fork(base: Suggester) -> Suggester:
    """A Suggester sharing ``base``'s encoder and head but with its own exemplar index, so that
    adding exemplars to it leaves ``base`` (and every other project) unchanged."""
    from models.index import ExemplarIndex

    index = ExemplarIndex(base.index.dim, exact_max=base.index.exact_max,
                          hnsw_m=base.index.hnsw_m)
    if len(base.index):
        index.add(base.index._vectors.copy(), list(base.index.exemplars))
    return Suggester(encoder=base.encoder, head=base.head, index=index, codebook=base.codebook,
                     calibration=base.calibration, manifest=base.manifest, path=base.path,
                     lexical=base.lexical)


@dataclass
class ProjectModel:
    version_id: int
    version: int
    suggester: Suggester


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
        """The project's model at its current version (loaded, or reloaded after a retrain)."""
        with self.lock(project_id), self._sessions() as session:
            version = current_version(session=session, project_id=project_id)
            held = self._held.get(project_id)
            if held is None or held.version_id != version.id:
                held = ProjectModel(version.id, version.version, fork(self._base(version.path)))
                segments = segments_reviewed_after(session=session, project_id=project_id,
                                                   review_id=version.folded_review_id)
                self._fold(session, project_id, held, segments)
                with self._guard:
                    self._held[project_id] = held
                self._forget_unused_bases()
            return held

    def suggest(self, project_id: int, texts: list[str], **kwargs) -> tuple[ProjectModel, list]:
        with self.lock(project_id):
            held = self.get(project_id)
            return held, held.suggester.suggest(texts, **kwargs) if texts else []

    def fold(self, project_id: int, segment_ids: list[int]) -> None:
        """Add the codings people just decided on these segments to the project's index (when
        its model is loaded; otherwise loading it will)."""
        with self.lock(project_id):
            held = self._held.get(project_id)
            if held is not None and segment_ids:
                with self._sessions() as session:
                    self._fold(session, project_id, held, segment_ids)

    @staticmethod
    def _fold(session: Session, project_id: int, held: ProjectModel,
              segment_ids: list[int]) -> None:
        book = held.suggester.codebook
        codes = decided_codes(session=session, project_id=project_id, segment_ids=segment_ids)
        rows = [(sid, [c for c in cs if c in book]) for sid, cs in codes.items()]
        rows = [(sid, cs) for sid, cs in rows if cs]
        if not rows:
            return
        texts = {s.id: s.text for s in session.query(Segment).where(
            Segment.id.in_([sid for sid, _ in rows]))}
        held.suggester.add_exemplars([texts[sid] for sid, _ in rows], [cs for _, cs in rows],
                                     [exemplar_id(sid) for sid, _ in rows])
        log.info("project %s: %d coded segment(s) added to the exemplar index", project_id,
                 len(rows))
