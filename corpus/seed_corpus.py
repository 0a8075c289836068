"""The seed corpus shipped with precode: coded interview excerpts for ``npt`` and ``integrating``.

The excerpts were written for precode (see ``corpus/seed/README.md``). Each belongs to a scenario, an
imagined study; evaluation always holds out whole scenarios (:func:`scenario_folds`).
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

from corpus.codebook import Codebook, load_codebooks
from corpus.excerpts import Excerpt, read_excerpts

SEED_CODEBOOKS = "npt,integrating"

# Words that name the theory or its parts. Participants never use them; an excerpt that does would
# teach the model a shortcut, so the tests reject any excerpt that matches.
THEORY_TERMS = [
    r"normali[sz]ation", r"npt", r"coherence", r"cognitive participation", r"collective action",
    r"reflexive monitoring", r"differentiat\w*", r"communal specification",
    r"individual specification", r"specification", r"internali[sz]\w*", r"initiation",
    r"enrol?ments?", r"enrollments?", r"legitimation", r"legitimacy", r"activation",
    r"workability", r"interactional", r"relational integration", r"skill[- ]?set",
    r"contextual integration", r"systemati[sz]ation", r"appraisal", r"reconfigur\w*",
    r"engaging groups", r"bridging", r"bridging communication", r"sense-?making", r"sense making",
    r"negotiat\w*", r"integrating mechanisms?", r"constructs?", r"sub-constructs?",
    r"implementation science", r"community of practice",
]
THEORY_RE = re.compile(r"\b(" + "|".join(THEORY_TERMS) + r")\b", re.IGNORECASE)


def seed_path() -> Path:
    return Path(str(resources.files("corpus") / "seed" / "excerpts.jsonl"))


def seed_codebook() -> Codebook:
    return load_codebooks(SEED_CODEBOOKS)


def load_seed(codebook: Codebook | None = None) -> list[Excerpt]:
    """All seed excerpts; ``meta`` holds speaker_role, setting, intervention and scenario."""
    return read_excerpts(seed_path(), codebook or seed_codebook())


def seed_hash() -> str:
    return hashlib.sha256(seed_path().read_bytes()).hexdigest()[:16]


def scenario_folds(excerpts: list[Excerpt], n_folds: int = 5, *, seed: int = 0
                   ) -> list[tuple[list[int], list[int]]]:
    """(train, test) index lists where each test fold is a set of whole scenarios.

    Scenarios are dealt to folds in a seeded order, balancing the number of excerpts.
    """
    import random

    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(excerpts):
        groups.setdefault(str(ex.meta.get("scenario", ex.document or "none")), []).append(i)
    if len(groups) < n_folds:
        raise ValueError(f"{len(groups)} scenarios cannot make {n_folds} folds")
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    names.sort(key=lambda g: -len(groups[g]))  # stable: largest first, ties in shuffled order
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    for name in names:
        smallest = min(range(n_folds), key=lambda f: len(folds[f]))
        folds[smallest].extend(groups[name])
    out = []
    for f in range(n_folds):
        test = sorted(folds[f])
        test_set = set(test)
        out.append(([i for i in range(len(excerpts)) if i not in test_set], test))
    return out

