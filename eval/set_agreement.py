"""Agreement on set-valued codings (a coder gives a unit a *set* of codes): Krippendorff's alpha
with a distance between sets, and the simple overlap figures papers report beside it.

Distances between two sets ``A`` and ``B`` (0 = same, 1 = nothing in common):

- :func:`jaccard_distance` ``1 - |A & B| / |A | B|``;
- :func:`set_distance` (Passonneau 2004): 0 identical, 1/3 one a subset of the other, 2/3 some
  overlap, 1 disjoint;
- :func:`masi_distance` (Passonneau 2006, "Measuring agreement on set-valued items"):
  ``1 - J * M`` with ``J`` the Jaccard index and ``M`` = 1 identical, 2/3 subset, 1/3 overlap,
  0 disjoint. The exact thirds are used (NLTK's ``masi_distance`` rounds 1/3 to 0.33).

Two empty sets are identical (distance 0). The empty set is a subset of every set, so against a
non-empty set its set distance is 1/3 (as in dkpro-statistics); Jaccard and MASI give 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["alpha_with_distance", "jaccard_distance", "masi_distance", "set_distance",
           "set_overlap"]

Distance = Callable[[Any, Any], float]


def _sets(a: Iterable, b: Iterable) -> tuple[frozenset, frozenset]:
    return frozenset(a), frozenset(b)


def jaccard_distance(a: Iterable, b: Iterable) -> float:
    a, b = _sets(a, b)
    union = a | b
    return 0.0 if not union else 1.0 - len(a & b) / len(union)


def _monotonicity(a: frozenset, b: frozenset) -> float:
    if a == b:
        return 1.0
    if a <= b or b <= a:
        return 2 / 3 if a and b else 0.0
    return 1 / 3 if a & b else 0.0


def set_distance(a: Iterable, b: Iterable) -> float:
    """Passonneau (2004): 0 identical, 1/3 subset, 2/3 overlapping, 1 disjoint."""
    a, b = _sets(a, b)
    if a == b:
        return 0.0
    if a <= b or b <= a:  # the empty set is a subset of any set
        return 1 / 3
    return 2 / 3 if a & b else 1.0


def masi_distance(a: Iterable, b: Iterable) -> float:
    """Passonneau (2006) MASI distance ``1 - J * M`` (exact thirds)."""
    a, b = _sets(a, b)
    if a == b:
        return 0.0
    return 1.0 - (1.0 - jaccard_distance(a, b)) * _monotonicity(a, b)


def alpha_with_distance(data: Sequence[Sequence[Any]], distance: Distance) -> dict:
    """Krippendorff's alpha with any distance ``delta(x, y)`` (0 for equal values), from its
    pairwise definition: over units with ``m_u >= 2`` values (``None`` = missing)::

        D_o = 1/n * sum_u sum_{i != j in u} delta(v_i, v_j) / (m_u - 1)
        D_e = 1/(n (n - 1)) * sum_{i != j over all n pairable values} delta(v_i, v_j)
        alpha = 1 - D_o / D_e

    (Krippendorff 2011; with ``delta`` the squared metric of each level it is the usual alpha.)
    Values may be sets (use :func:`set_distance` or :func:`masi_distance`). Returns ``{"alpha",
    "D_o", "D_e"}``; ``alpha`` is ``nan`` when ``D_e`` is 0 or nothing is pairable.
    """
    units = [[v for v in row if v is not None] for row in data]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    if n < 2:
        return {"alpha": math.nan, "D_o": math.nan, "D_e": math.nan}
    d_o = sum(distance(u[i], u[j]) / (len(u) - 1)
              for u in units for i in range(len(u)) for j in range(len(u)) if i != j) / n
    d_e = sum(distance(values[i], values[j]) for i in range(n) for j in range(n)
              if i != j) / (n * (n - 1))
    return {"alpha": 1.0 - d_o / d_e if d_e > 0 else math.nan, "D_o": d_o, "D_e": d_e}


def set_overlap(pairs: Iterable[tuple[Iterable, Iterable]]) -> dict:
    """Two coders' sets per unit: ``exact`` (share of units with the same set), ``any_overlap``
    (share of units where the sets share a code) and ``dice`` (mean Dice
    coefficient ``2 |A & B| / (|A| + |B|)``, 0 for two empty sets)."""
    pairs = [_sets(a, b) for a, b in pairs]
    if not pairs:
        return {"n_units": 0, "exact": math.nan, "any_overlap": math.nan, "dice": math.nan}
    n = len(pairs)
    return {"n_units": n,
            "exact": sum(a == b for a, b in pairs) / n,
            "any_overlap": sum(bool(a & b) for a, b in pairs) / n,
            "dice": sum(2 * len(a & b) / (len(a) + len(b)) if a or b else 0.0
                        for a, b in pairs) / n}
