"""Krippendorff's unitizing alpha (u-alpha): agreement between coders who cut a continuum (a text's
characters) into differently placed and sized units, each with a category (a code).

Krippendorff, K. (2004) *Content Analysis*, 2nd ed., pp. 251-256 (after Krippendorff 1995, "On
the reliability of unitizing contiguous data", Sociological Methodology 25:47-76). For one
category ``c``, each coder's continuum ``[begin, begin + L)`` is a sequence of *units* (coded
``c``) and *gaps* (not coded ``c``). With ``m`` coders:

Observed disagreement, over every pair of coders and every pair of their overlapping segments
(unit ``s`` of one, unit or gap ``t`` of the other)::

    delta^2(s, t) = (start_s - start_t)^2 + (end_s - end_t)^2   both units, overlapping
                  = len_s^2                                     unit s inside gap t
                  = len_t^2                                     gap s containing unit t
                  = 0                                           otherwise (two gaps, ...)
    D_o(c) = 2 * sum delta^2 / (m (m - 1) L^2)

Expected disagreement, over all units ``u`` of ``c`` (length ``l``, ``N_c`` of them) and all
gaps ``g`` of all coders::

    D_e(c) = 2/L * sum_u [ (N_c - 1)(2 l^3 - 3 l^2 + l) / 3 + l^2 sum_{g >= l} (g - l + 1) ]
             / (m L (m L - 1) - sum_u l (l - 1))

    alpha(c) = 1 - D_o(c) / D_e(c);   u-alpha over all categories = 1 - sum_c D_o / sum_c D_e

Positions are whole numbers (characters). A coder's overlapping units of one category are
merged into their union first (the formulas assume they do not overlap). Several documents are
laid end to end as one continuum, each document's characters once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["unitizing_alpha", "spans_unitizing_alpha"]

Unit = tuple[int, int, Any, Any]  # (start, length, coder, category)


def unitizing_alpha(units: Iterable[Sequence[Any]], *, begin: int, length: int,
                    coders: Iterable[Any] | None = None) -> dict:
    """u-alpha of ``units`` ``(start, length, coder, category)`` on ``[begin, begin + length)``.

    ``coders``: every coder who unitized the continuum (one with no unit of a category has only
    a gap there); default: those with a unit. Returns ``{"alpha", "D_o", "D_e", "n_coders",
    "categories": {category: {"alpha", "D_o", "D_e", "n_units"}}}``; ``alpha`` is ``nan`` when
    ``D_e`` is 0 (nothing coded) or fewer than two coders.
    """
    if length <= 0:
        raise ValueError(f"the continuum must have a positive length, got {length}")
    end = begin + length
    by_category: dict[Any, dict[Any, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    coder_list = list(dict.fromkeys(coders or ()))
    for item in units:
        start, size, coder, category = item
        start, size = int(start), int(size)
        if size < 0 or start < begin or start + size > end:
            raise ValueError(f"unit {tuple(item)!r} lies outside the continuum [{begin}, {end})")
        if coder not in coder_list:
            coder_list.append(coder)
        if size:
            by_category[category][coder].append((start, start + size))
    m = len(coder_list)
    categories = {}
    for category in sorted(by_category, key=str):
        per_coder = {g: _merge(by_category[category].get(g, [])) for g in coder_list}
        d_o, d_e, n = _category(per_coder, begin, end, m)
        categories[category] = {"alpha": _alpha(d_o, d_e), "D_o": d_o, "D_e": d_e, "n_units": n}
    total_o = sum(c["D_o"] for c in categories.values())
    total_e = sum(c["D_e"] for c in categories.values())
    return {"alpha": _alpha(total_o, total_e) if m >= 2 else math.nan, "D_o": total_o,
            "D_e": total_e, "n_coders": m, "categories": categories}


def spans_unitizing_alpha(spans: Mapping[str, Iterable[Any]], lengths: Mapping[str, int]) -> dict:
    """u-alpha over coded spans (objects with ``document``, ``start``, ``end``, ``code``) of all
    coders in ``spans``, the documents of ``lengths`` laid end to end as one continuum."""
    offset, at = 0, {}
    for document, size in lengths.items():
        at[document] = offset
        offset += int(size)
    units = []
    for coder, items in spans.items():
        for s in items:
            if s.document not in at:
                raise ValueError(f"document {s.document!r} has no known length")
            units.append((at[s.document] + s.start, s.end - s.start, coder, s.code))
    if offset == 0:
        return {"alpha": math.nan, "D_o": 0.0, "D_e": 0.0, "n_coders": len(spans),
                "categories": {}}
    return unitizing_alpha(units, begin=0, length=offset, coders=list(spans))


# --------------------------------------------------------------------------- helpers


def _alpha(d_o: float, d_e: float) -> float:
    return 1.0 - d_o / d_e if d_e > 0 else math.nan


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, stop in sorted(intervals):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], stop))
        else:
            out.append((start, stop))
    return out


def _segments(units: list[tuple[int, int]], begin: int, end: int) -> list[tuple[int, int, bool]]:
    """The continuum as consecutive ``(start, stop, is_unit)`` segments."""
    out, pos = [], begin
    for start, stop in units:
        if start > pos:
            out.append((pos, start, False))
        out.append((start, stop, True))
        pos = stop
    if pos < end:
        out.append((pos, end, False))
    return out


def _delta(s: tuple[int, int, bool], t: tuple[int, int, bool]) -> int:
    (s0, s1, s_unit), (t0, t1, t_unit) = s, t
    if s_unit and t_unit:
        return (s0 - t0) ** 2 + (s1 - t1) ** 2
    if s_unit and t0 <= s0 and s1 <= t1:
        return (s1 - s0) ** 2
    if t_unit and s0 <= t0 and t1 <= s1:
        return (t1 - t0) ** 2
    return 0


def _pair_disagreement(a: list[tuple[int, int, bool]], b: list[tuple[int, int, bool]]) -> int:
    """Sum of delta^2 over the overlapping segment pairs of two coders (a sweep over both)."""
    total, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        total += _delta(a[i], b[j])
        a_end, b_end = a[i][1], b[j][1]
        i += a_end <= b_end
        j += b_end <= a_end
    return total


def _category(per_coder: dict[Any, list[tuple[int, int]]], begin: int, end: int, m: int
              ) -> tuple[float, float, int]:
    big_l = end - begin
    segments = {g: _segments(u, begin, end) for g, u in per_coder.items()}
    coders = list(segments)
    observed = sum(_pair_disagreement(segments[g], segments[h])
                   for i, g in enumerate(coders) for h in coders[i + 1:])
    d_o = 2.0 * observed / (m * (m - 1) * big_l**2) if m >= 2 else math.nan
    lengths = [stop - start for u in per_coder.values() for start, stop in u]
    gaps = sorted((stop - start for s in segments.values() for start, stop, unit in s if not unit),
                  reverse=True)
    n_c = len(lengths)
    numerator = 0
    for ln in lengths:
        within = sum(g - ln + 1 for g in gaps if g >= ln)
        numerator += 3 * ln * ln * within + (n_c - 1) * (2 * ln**3 - 3 * ln**2 + ln)
    denominator = m * big_l * (m * big_l - 1) - sum(ln * (ln - 1) for ln in lengths)
    d_e = (2.0 / big_l) * (numerator / 3.0) / denominator if denominator > 0 and m >= 2 else 0.0
    return d_o, d_e, n_c
