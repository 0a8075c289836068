"""Contrastive pairs from coded excerpts, SetFit-style.

For every anchor excerpt: positives share at least one code (two uncoded excerpts also count as
alike: "nothing to code here" is a class of its own); negatives share none. A share of the
negatives are hard: they carry a sibling code under the same parent (e.g. two sub-constructs of
coherence), which is where coders and models confuse codes most.
"""

from __future__ import annotations

import random

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt


def make_pairs(excerpts: list[Excerpt], codebook: Codebook, *, per_excerpt: int, seed: int,
               hard_negative_share: float = 0.5, max_pairs: int | None = None
               ) -> tuple[list[str], list[str], list[float]]:
    rng = random.Random(seed)
    codesets = [frozenset(e.codes) for e in excerpts]
    parents = [frozenset(codebook.codes[c].parent for c in cs
                         if c in codebook and codebook.codes[c].parent) for cs in codesets]
    by_code: dict[str, list[int]] = {}
    for i, cs in enumerate(codesets):
        for c in cs or ("",):
            by_code.setdefault(c, []).append(i)
    everyone = list(range(len(excerpts)))
    a, b, score = [], [], []
    order = everyone[:]
    rng.shuffle(order)
    for i in order:
        n_pos = (per_excerpt + 1) // 2
        n_neg = per_excerpt - n_pos
        own = sorted(codesets[i]) or [""]
        for _ in range(n_pos):
            pool = by_code[rng.choice(own)]
            if len(pool) < 2:
                continue
            j = rng.choice(pool)
            while j == i:
                j = rng.choice(pool)
            a.append(excerpts[i].text)
            b.append(excerpts[j].text)
            score.append(1.0)
        for _ in range(n_neg):
            j = None
            if parents[i] and rng.random() < hard_negative_share:
                for _try in range(20):
                    k = rng.choice(everyone)
                    if not (codesets[k] & codesets[i]) and parents[k] & parents[i]:
                        j = k
                        break
            if j is None:
                for _try in range(50):
                    k = rng.choice(everyone)
                    if not (codesets[k] & codesets[i]) and (codesets[k] or codesets[i]):
                        j = k
                        break
            if j is None:
                continue
            a.append(excerpts[i].text)
            b.append(excerpts[j].text)
            score.append(0.0)
    if max_pairs is not None and len(a) > max_pairs:
        keep = sorted(rng.sample(range(len(a)), max_pairs))
        a, b, score = [a[k] for k in keep], [b[k] for k in keep], [score[k] for k in keep]
    return a, b, score
