"""The seed corpus shipped with precode: coded interview excerpts for ``npt`` and ``integrating``.

The excerpts were written for precode (see ``corpus/seed/README.md``) in two parts: ``v1``
(``seed/excerpts.jsonl``, tidy first-person talk) and ``v2`` (``seed/v2/<scenario>.jsonl``, written
the way people speak in recorded interviews, after ``seed/STYLE.md``). Each excerpt belongs to a
scenario, an imagined study; evaluation always holds out whole scenarios (:func:`scenario_folds`).
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

from corpus.codebook import Codebook
from corpus.codebook_files import load_codebooks
from corpus.excerpts import Excerpt, read_excerpts

SEED_CODEBOOKS = "npt,integrating"

# Words that name the theory or its parts (corpus/seed/theory_terms.txt, shared with the batch
# checker, which runs without the package).
THEORY_TERMS = [line.strip() for line in
                (resources.files("corpus") / "seed" / "theory_terms.txt").read_text("utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
THEORY_RE = re.compile(r"\b(" + "|".join(THEORY_TERMS) + r")\b", re.IGNORECASE)


SEED_PARTS = ("v1", "v2")
# The parts the built-in model learns from: the choice that wins on real data
# (eval/results/quality.md, npt_quotes_dev). Measured on 2026-11-30 no choice beat chance there
# (construct kappa v1 -0.04, v2 -0.10, v1+v2 -0.13; differences within the noise of 45 quotes),
# so the built-in model keeps the part it was trained on before; v2 is used by naming it.
DEFAULT_PARTS: tuple[str, ...] = ("v1",)


def seed_folder() -> Path:
    return Path(str(resources.files("corpus") / "seed"))


def seed_path() -> Path:
    """The v1 part (one file)."""
    return seed_folder() / "excerpts.jsonl"


def seed_files(parts: tuple[str, ...] | list[str] = DEFAULT_PARTS) -> list[Path]:
    unknown = sorted(set(parts) - set(SEED_PARTS))
    if unknown:
        raise ValueError(f"unknown seed corpus part(s) {', '.join(unknown)} "
                         f"(known: {', '.join(SEED_PARTS)})")
    files: list[Path] = []
    for part in SEED_PARTS:
        if part in parts:
            files += [seed_path()] if part == "v1" else sorted((seed_folder() / part).glob("*.jsonl"))
    return files


def seed_codebook() -> Codebook:
    return load_codebooks(SEED_CODEBOOKS)


def load_seed(codebook: Codebook | None = None, *,
              parts: tuple[str, ...] | list[str] = DEFAULT_PARTS) -> list[Excerpt]:
    """The seed excerpts of ``parts``; ``meta`` holds speaker_role, setting, intervention,
    scenario and part."""
    book = codebook or seed_codebook()
    out: list[Excerpt] = []
    for path in seed_files(parts):
        part = "v1" if path == seed_path() else path.parent.name
        for ex in read_excerpts(path, book):
            ex.meta["part"] = part
            out.append(ex)
    return out


def load_anchors(codebook: Codebook | None = None) -> list[Excerpt]:
    """Anchor utterances: short, topic-free things a speaker might say, 30 or more for each leaf
    code of the built-in codebooks (``seed/anchors/<codebook>.jsonl``). Written to test whether
    prototypes without any setting carry a code on real speech (``eval/bench/npt_probe.py``);
    not part of the seed corpus the built-in model trains on."""
    book = codebook or seed_codebook()
    out: list[Excerpt] = []
    for name in SEED_CODEBOOKS.split(","):
        out += read_excerpts(seed_folder() / "anchors" / f"{name}.jsonl", book)
    return out


def seed_hash(parts: tuple[str, ...] | list[str] = DEFAULT_PARTS) -> str:
    h = hashlib.sha256()  # v1 alone hashes as it always has, so cached built-in models stay valid
    for path in seed_files(parts):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


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

