"""Inter-rater agreement statistics, as reported in qualitative research papers.

Reliability data is a matrix of *units x coders*: row ``i`` holds the value each coder gave unit
``i``. It may be a list of rows or a 2-D numpy array; a coder who did not code a unit is missing
(``None`` or ``nan``). Values are categories and can be any hashable (strings, numbers, ...).

Notation used in the docstrings: for unit ``i``, ``r_i`` is the number of values it received and
``r_ik`` the number of those equal to category ``k``; ``q`` is the number of categories.

Undefined statistics
--------------------
Chance-corrected coefficients are ``(p_o - p_e) / (1 - p_e)`` (or ``1 - D_o / D_e``). When every
coder used one single category everywhere, chance agreement is 1 (expected disagreement is 0) and
the coefficient is 0/0: it is *undefined*, and the functions return ``nan`` (display it as
"n/a"); they also return ``nan`` when there are no units with at least two values. They never
raise for such data. Malformed input (ragged rows, unhashable values, text given to the interval
metric) raises ``TypeError``/``ValueError`` naming the offending row or value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = [
    "FORMULAS",
    "KappaResult",
    "bennett_s",
    "bootstrap_ci",
    "brennan_prediger",
    "category_kappa",
    "cohen_kappa",
    "cohen_kappa_table",
    "conger_kappa",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "krippendorff_band",
    "MIN_UNITS_FOR_CI",
    "interval",
    "landis_koch",
    "light_kappa",
    "multilabel_to_binary",
    "percent_agreement",
    "randolph_kappa",
    "rollup",
    "scott_pi",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Weights = Literal["linear", "quadratic"] | Sequence[Sequence[float]] | np.ndarray | None

_NAN = float("nan")
_EPS = 1e-12  # tolerance for "chance agreement is exactly 1" and for band boundaries


# How each statistic is computed, in one line, shown beside its value in every report.
FORMULAS = {
    "percent_agreement": "p_o = mean over units of the share of agreeing coder pairs",
    "cohen_kappa": "Cohen (1960): (p_o - p_e) / (1 - p_e), p_e = sum_k p_ak p_bk (each coder's "
                   "own marginals)",
    "scott_pi": "Scott (1955): (p_o - p_e) / (1 - p_e), p_e = sum_k pi_k^2 (pooled marginals)",
    "fleiss_kappa": "Fleiss (1971), missing ratings as Gwet (2014): p_e = sum_k pi_k^2, pi_k = "
                    "mean over units of r_ik / r_i",
    "conger_kappa": "Conger (1980) = Hubert (1977): p_e = mean over coder pairs of "
                    "sum_k p_gk p_hk",
    "light_kappa": "Light (1971): mean of Cohen's kappa over coder pairs",
    "brennan_prediger": "Bennett et al. (1954) S = Brennan & Prediger (1981): (p_o - 1/q) / "
                        "(1 - 1/q), q categories",
    "randolph_kappa": "Randolph (2005) free-marginal kappa: (p_o - 1/q) / (1 - 1/q)",
    "gwet_ac1": "Gwet (2008) AC1: p_e = sum_k pi_k (1 - pi_k) / (q - 1)",
    "krippendorff_alpha": "Krippendorff (2011): 1 - D_o / D_e from the coincidence matrix",
    "krippendorff_alpha_pooled": "Krippendorff's alpha over all (unit, code) decisions at once",
    "category_kappa": "Fleiss (1971) per-category kappa: 1 - sum_i r_ik (r_i - r_ik) / "
                      "(r_i - 1) / (N p_k (1 - p_k)), pooled marginals",
    "u_alpha": "Krippendorff (2004, pp. 251-256) unitizing alpha: 1 - D_o / D_e over "
               "segment positions and lengths on the continuum",
}


# --------------------------------------------------------------------------- input handling


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return False


def _clean(value: Any, where: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"{where}: value {value!r} is not hashable, so it cannot be a category"
        ) from None
    return value


def _rows(data: Any) -> list[list[Any]]:
    """The reliability matrix as a rectangular list of rows (missing values kept)."""
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValueError(
                f"reliability data must be 2-D (units x coders), got an array of shape {data.shape}"
            )
        return data.tolist()
    if isinstance(data, str | bytes) or not isinstance(data, Iterable):
        raise TypeError(
            f"reliability data must be a list of rows or a 2-D array, got {type(data).__name__}"
        )
    rows: list[list[Any]] = []
    for i, row in enumerate(data):
        if isinstance(row, str | bytes) or not isinstance(row, Iterable):
            raise TypeError(f"row {i}: expected one value per coder, got {row!r}")
        rows.append(list(row))
    if rows:
        width = len(rows[0])
        for i, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(
                    f"row {i} has {len(row)} values but row 0 has {width}: every row needs one "
                    "entry per coder (use None for a coder who did not code the unit)"
                )
    return rows


def _units(data: Any) -> list[list[Any]]:
    """Per unit, the non-missing values."""
    return [
        [_clean(v, f"row {i}, coder {j}") for j, v in enumerate(row) if not _is_missing(v)]
        for i, row in enumerate(_rows(data))
    ]


def _categories(
    values: Iterable[Any], categories: Sequence[Hashable] | None, *, ordered: bool
) -> list[Any]:
    """The category list: ``categories`` if given (checked), else the observed values, sorted
    where possible (required when ``ordered``), else in order of first appearance."""
    values = list(values)
    if categories is not None:
        cats = [_clean(c, "categories") for c in categories]
        if len(set(cats)) != len(cats):
            raise ValueError(f"categories contains duplicates: {cats!r}")
        known = set(cats)
        for v in values:
            if v not in known:
                raise ValueError(f"value {v!r} is not one of the given categories {cats!r}")
        return cats
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct)
    except TypeError:
        if ordered:
            raise TypeError(
                f"cannot order the values {distinct!r}; pass categories=[...] in their order"
            ) from None
        return distinct


def _count_table(units: list[list[Any]], cats: list[Any]) -> np.ndarray:
    """``T[i, k]`` = number of values in unit ``i`` equal to category ``k``."""
    index = {c: k for k, c in enumerate(cats)}
    table = np.zeros((len(units), len(cats)))
    for i, vals in enumerate(units):
        for v in vals:
            table[i, index[v]] += 1
    return table


def _chance_corrected(p_o: float, p_e: float) -> float:
    if math.isnan(p_o) or math.isnan(p_e) or abs(1.0 - p_e) <= _EPS:
        return _NAN
    return float((p_o - p_e) / (1.0 - p_e))


def _unit_agreement(table: np.ndarray) -> float:
    """Mean over units with ``r_i >= 2`` of the share of agreeing coder pairs,
    ``sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``; ``nan`` without such units."""
    r = table.sum(axis=1)
    t = table[r >= 2]
    if t.shape[0] == 0:
        return _NAN
    r = r[r >= 2]
    return float(np.mean((t * (t - 1)).sum(axis=1) / (r * (r - 1))))


def _pairs(a: Sequence[Any], b: Sequence[Any]) -> list[tuple[Any, Any]]:
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"the two coders have {len(a)} and {len(b)} values; they must be equal")
    return [
        (_clean(x, f"unit {i}, coder a"), _clean(y, f"unit {i}, coder b"))
        for i, (x, y) in enumerate(zip(a, b, strict=True))
        if not (_is_missing(x) or _is_missing(y))
    ]


# --------------------------------------------------------------------------- statistics


def percent_agreement(data: Any) -> float:
    """Observed (percent) agreement, as a proportion in [0, 1].

    ``p_o = mean_i sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))`` over units with ``r_i >= 2``: for each
    unit the share of agreeing pairs among its coder pairs (Fleiss 1971). With two coders it is
    the share of units on which they agree. ``nan`` if no unit has two values.
    """
    units = _units(data)
    cats = _categories((v for u in units for v in u), None, ordered=False)
    return _unit_agreement(_count_table(units, cats))


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa with its large-sample standard error and a 95% normal interval.

    ``value``, ``se`` and ``ci`` are ``nan`` when kappa is undefined. ``n`` is the number of
    units both coders coded, ``po``/``pe`` the (weighted) observed and chance agreement.
    ``float(result)`` gives ``value``.
    """

    value: float
    se: float
    ci: tuple[float, float]
    n: int
    po: float
    pe: float

    def __float__(self) -> float:
        return self.value


def _agreement_weights(k: int, weights: Weights) -> np.ndarray:
    if weights is not None and not isinstance(weights, str):
        w = np.asarray(weights, dtype=float)
        if w.shape != (k, k):
            raise ValueError(f"weights must be a {k}x{k} matrix over the categories, got shape "
                             f"{w.shape}")
        return w
    idx = np.arange(k)
    if weights is None or k == 1:
        return np.eye(k)
    dist = np.abs(idx[:, None] - idx[None, :]) / (k - 1)
    if weights == "linear":
        return 1.0 - dist
    if weights == "quadratic":
        return 1.0 - dist**2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    *,
    weights: Weights = None,
    categories: Sequence[Hashable] | None = None,
) -> KappaResult:
    """Cohen's kappa (1960) for two coders, optionally weighted (Cohen 1968).

    Units where either coder is missing are dropped. With ``p_ij`` the joint proportions,
    ``p_i.``/``p_.j`` the marginals and agreement weights ``w_ij`` (identity when unweighted;
    ``1 - |i-j|/(q-1)`` linear; ``1 - (i-j)^2/(q-1)^2`` quadratic)::

        p_o = sum w_ij p_ij,  p_e = sum w_ij p_i. p_.j,  kappa = (p_o - p_e) / (1 - p_e)

    Weighted kappa needs the order of the categories: ``categories`` in that order, else the
    sorted observed values. ``weights`` may also be a matrix of agreement weights ``w_ij`` (1 on
    the diagonal; ``1 - distance``) over ``categories`` (Artstein & Poesio 2008's kappa_w).
    ``se`` is the large-sample (non-null) standard error of Fleiss, Cohen
    & Everitt (1969)::

        var = [sum_ij p_ij (w_ij - (wbar_i. + wbar_.j)(1 - kappa))^2 - (kappa - p_e (1 - kappa))^2]
              / (n (1 - p_e)^2),      wbar_i. = sum_j p_.j w_ij,  wbar_.j = sum_i p_i. w_ij

    and ``ci = value -/+ 1.96 se``, clipped to kappa's range [-1, 1]. (To *test* kappa = 0 one
    would use the null variance instead.) Undefined (``nan``) when ``p_e = 1`` or no unit was coded by both.
    """
    custom = weights is not None and not isinstance(weights, str)
    if not custom and weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear', 'quadratic' or a matrix, got "
                         f"{weights!r}")
    if custom and categories is None:
        raise ValueError("a weight matrix needs categories=[...] naming its rows and columns")
    pairs = _pairs(a, b)
    cats = _categories((v for pair in pairs for v in pair), categories, ordered=weights is not None)
    n = len(pairs)
    if n == 0:
        return KappaResult(_NAN, _NAN, (_NAN, _NAN), 0, _NAN, _NAN)
    index = {c: k for k, c in enumerate(cats)}
    p = np.zeros((len(cats), len(cats)))
    for x, y in pairs:
        p[index[x], index[y]] += 1
    return cohen_kappa_table(p, weights=weights)


def cohen_kappa_table(table: Any, *, weights: Weights = None) -> KappaResult:
    """:func:`cohen_kappa` from a contingency table of counts (rows: coder a's category, columns:
    coder b's, in the categories' order), e.g. the 2x2 counts of characters two coders did or
    did not code. Same formulas and standard error."""
    p = np.asarray(table, dtype=float)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"a contingency table must be square, got shape {p.shape}")
    n = int(round(p.sum()))
    if n == 0:
        return KappaResult(_NAN, _NAN, (_NAN, _NAN), 0, _NAN, _NAN)
    p = p / p.sum()
    w = _agreement_weights(p.shape[0], weights)
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float((w * np.outer(row, col)).sum())
    kappa = _chance_corrected(po, pe)
    if math.isnan(kappa):
        return KappaResult(_NAN, _NAN, (_NAN, _NAN), n, po, pe)
    wbar_row = w @ col  # wbar_i. = sum_j p_.j w_ij
    wbar_col = w.T @ row  # wbar_.j = sum_i p_i. w_ij
    dev = w - (wbar_row[:, None] + wbar_col[None, :]) * (1 - kappa)
    var = ((p * dev**2).sum() - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    se = math.sqrt(max(float(var), 0.0))
    z = float(stats.norm.ppf(0.975))
    return KappaResult(kappa, se, (max(-1.0, kappa - z * se), min(1.0, kappa + z * se)), n, po, pe)


def scott_pi(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Scott's pi (1955) for two coders; units where either is missing are dropped.

    ``p_o`` = share of units where they agree; ``p_e = sum_k pi_k^2`` with ``pi_k`` the share of
    category ``k`` among both coders' values pooled; ``pi = (p_o - p_e) / (1 - p_e)``.
    Undefined (``nan``) when ``p_e = 1`` or no unit was coded by both.
    """
    pairs = _pairs(a, b)
    if not pairs:
        return _NAN
    po = sum(x == y for x, y in pairs) / len(pairs)
    cats = _categories((v for pair in pairs for v in pair), None, ordered=False)
    table = _count_table([list(pair) for pair in pairs], cats)
    pooled = table.sum(axis=0) / table.sum()
    return _chance_corrected(po, float((pooled**2).sum()))


def fleiss_kappa(data: Any, *, missing: Literal["gwet", "pooled"] = "gwet") -> float:
    """Fleiss' kappa (1971) for any number of coders, with missing ratings as in Gwet's
    *Handbook of Inter-Rater Reliability* (4th ed., 2014, ch. 5) and AgreeStat / irrCAC::

        P_i  = sum_k r_ik (r_ik - 1) / (r_i (r_i - 1)),  P_o = mean of P_i over units with r_i >= 2
        pi_k = mean of r_ik / r_i over units with r_i >= 1
        P_e  = sum_k pi_k^2,   kappa = (P_o - P_e) / (1 - P_e)

    ``missing="pooled"`` takes instead ``pi_k = sum_i r_ik / sum_i r_i`` over the units with
    ``r_i >= 2`` (the share of category ``k`` among all pairable ratings). Both are exactly
    Fleiss (1971) when every unit has the same number of ratings; with two coders and no missing
    values they equal Scott's pi. Undefined (``nan``) when ``P_e = 1`` or no unit has two ratings.
    """
    if missing not in ("gwet", "pooled"):
        raise ValueError(f"missing must be 'gwet' or 'pooled', got {missing!r}")
    units = [u for u in _units(data) if u]
    pairable = [u for u in units if len(u) >= 2]
    if not pairable:
        return _NAN
    cats = _categories((v for u in units for v in u), None, ordered=False)
    table = _count_table(units, cats)
    r = table.sum(axis=1)
    if missing == "gwet":
        p = (table / r[:, None]).mean(axis=0)
    else:
        p = table[r >= 2].sum(axis=0) / r[r >= 2].sum()
    return _chance_corrected(_unit_agreement(table), float((p**2).sum()))


def conger_kappa(data: Any) -> float:
    """Conger's (1980) kappa for any number of coders, also Hubert's (1977) kappa or Davies &
    Fleiss' (1982) multi-rater kappa: chance agreement from each coder's own marginals::

        P_o  = mean_i sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))        (as Fleiss)
        p_gk = share of coder g's values equal to k
        P_e  = mean over coder pairs g < h of sum_k p_gk p_hk
        kappa = (P_o - P_e) / (1 - P_e)

    With two coders it is Cohen's kappa. Written for complete data (every coder codes every
    unit); units with a missing value are dropped. Undefined (``nan``) as the others.
    """
    rows = [[_clean(v, f"row {i}, coder {j}") for j, v in enumerate(row)]
            for i, row in enumerate(_rows(data)) if not any(_is_missing(v) for v in row)]
    if not rows or len(rows[0]) < 2:
        return _NAN
    cats = _categories((v for r in rows for v in r), None, ordered=False)
    index = {c: k for k, c in enumerate(cats)}
    m = len(rows[0])
    marg = np.zeros((m, len(cats)))
    for row in rows:
        for g, v in enumerate(row):
            marg[g, index[v]] += 1
    marg /= len(rows)
    pairs = [(g, h) for g in range(m) for h in range(g + 1, m)]
    pe = float(np.mean([marg[g] @ marg[h] for g, h in pairs]))
    return _chance_corrected(_unit_agreement(_count_table(rows, cats)), pe)


def light_kappa(data: Any) -> float:
    """Light's (1971) kappa: the mean of Cohen's kappa over every pair of coders (each pair on
    the units both coded). ``nan`` when no pair's kappa is defined."""
    rows = _rows(data)
    if not rows:
        return _NAN
    m = len(rows[0])
    values = [cohen_kappa([r[g] for r in rows], [r[h] for r in rows]).value
              for g in range(m) for h in range(g + 1, m)]
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else _NAN


def category_kappa(data: Any) -> dict[Any, float]:
    """Per-category kappa of Fleiss (1971, eq. 9), for any number of coders (units with at least
    two values), with the pooled share ``p_k`` of category ``k``::

        kappa_k = 1 - sum_i r_ik (r_i - r_ik) / (r_i - 1)  /  (N_k p_k (1 - p_k))

    where ``N_k = sum_i r_i`` (for equal ``r_i = r`` this is Fleiss' ``1 - sum_i x_ij (m - x_ij)
    / (N m (m - 1) p_j q_j)``). It is the agreement on "k or not k" with chance taken from the
    pooled marginals (Scott-type), as dkpro-statistics reports it; a 2x2 Cohen's kappa on
    "k against the rest" uses each coder's own marginals and differs. ``{category: value}``,
    ``nan`` where ``p_k`` is 0 or 1.
    """
    units = [u for u in _units(data) if len(u) >= 2]
    if not units:
        return {}
    cats = _categories((v for u in units for v in u), None, ordered=False)
    table = _count_table(units, cats)
    r = table.sum(axis=1)
    p = table.sum(axis=0) / r.sum()
    out = {}
    for k, cat in enumerate(cats):
        denom = r.sum() * p[k] * (1 - p[k])
        if denom <= _EPS:
            out[cat] = _NAN
            continue
        disagreement = float((table[:, k] * (r - table[:, k]) / (r - 1)).sum())
        out[cat] = 1.0 - disagreement / float(denom)
    return out


def brennan_prediger(data: Any, n_categories: int | None = None) -> float:
    """Brennan & Prediger's (1981) kappa for any number of coders (missing allowed).

    ``(p_o - 1/q) / (1 - 1/q)`` with ``p_o`` the :func:`percent_agreement` and ``q`` =
    ``n_categories`` (the number of categories in the coding scheme), by default the number of
    distinct values observed. Undefined (``nan``) when ``q = 1`` or no unit has two values.
    """
    units = _units(data)
    observed = len(set(v for u in units for v in u))
    q = observed if n_categories is None else int(n_categories)
    if n_categories is not None and q < max(observed, 1):
        raise ValueError(
            f"n_categories={n_categories} but {observed} distinct values were observed"
        )
    if q < 1:
        return _NAN
    cats = _categories((v for u in units for v in u), None, ordered=False)
    return _chance_corrected(_unit_agreement(_count_table(units, cats)), 1.0 / q)


def bennett_s(data: Any, n_categories: int | None = None) -> float:
    """Bennett, Alpert & Goldstein's (1954) S: chance agreement ``1/q`` for ``q`` categories,
    ``S = (p_o - 1/q) / (1 - 1/q)``. The same coefficient as :func:`brennan_prediger` (their
    kappa_n) and, for many coders, :func:`randolph_kappa`; named apart because papers do."""
    return brennan_prediger(data, n_categories)


def randolph_kappa(data: Any, n_categories: int | None = None) -> float:
    """Randolph's (2005) free-marginal multi-rater kappa: Fleiss' observed agreement ``P_o``
    with chance ``1/q``, ``kappa_free = (P_o - 1/q) / (1 - 1/q)``; suited when coders are not
    told how many units belong in each category. ``q`` = ``n_categories``, else the number of
    distinct values observed. Equals :func:`brennan_prediger`."""
    return brennan_prediger(data, n_categories)


def gwet_ac1(data: Any, *, categories: Sequence[Hashable] | None = None) -> float:
    """Gwet's AC1 (Gwet 2008; Handbook of Inter-Rater Reliability) for any number of coders.

    With missing values as in Gwet's handbook::

        p_a  = mean over units with r_i >= 2 of sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))
        pi_k = mean over units with r_i >= 1 of r_ik / r_i
        p_e  = 1/(q - 1) * sum_k pi_k (1 - pi_k)
        AC1  = (p_a - p_e) / (1 - p_e)

    ``q`` is ``len(categories)`` if given (the categories of the scheme, used or not), else the
    number of distinct values observed. Undefined (``nan``) when ``q < 2`` or no unit has two
    values.
    """
    units = [u for u in _units(data) if u]
    cats = _categories((v for u in units for v in u), categories, ordered=False)
    q = len(cats)
    if q < 2 or not units:
        return _NAN
    table = _count_table(units, cats)
    pi = (table / table.sum(axis=1, keepdims=True)).mean(axis=0)
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    return _chance_corrected(_unit_agreement(table), pe)


def _delta(level: str, cats: list[Any], n_c: np.ndarray) -> np.ndarray:
    """Squared difference function ``delta^2_ck`` of Krippendorff (2011)."""
    if level == "nominal":
        return 1.0 - np.eye(len(cats))
    if level == "ordinal":
        # delta_ck = (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2, categories in rank order
        cum = np.cumsum(n_c)
        i, j = np.meshgrid(np.arange(len(cats)), np.arange(len(cats)), indexing="ij")
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        between = cum[hi] - cum[lo] + n_c[lo]
        return (between - (n_c[i] + n_c[j]) / 2.0) ** 2
    x = np.asarray(cats, dtype=float)
    diff = x[:, None] - x[None, :]
    if level == "interval":
        return diff**2
    total = x[:, None] + x[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total == 0, 0.0, diff / np.where(total == 0, 1.0, total))
    return ratio**2


def krippendorff_alpha(
    data: Any,
    *,
    level: Level = "nominal",
    categories: Sequence[Hashable] | None = None,
) -> float:
    """Krippendorff's alpha for any number of coders with missing values (Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability"; Content Analysis, 2004/2019).

    Only units with ``m_u >= 2`` values are pairable. Coincidence matrix and marginals::

        o_ck = sum_u (number of ordered c-k pairs of values in u) / (m_u - 1)
        n_c = sum_k o_ck,  n = sum_c n_c
        alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_ck o_ck delta^2_ck / sum_ck n_c n_k delta^2_ck

    Metrics ``delta^2_ck``: nominal ``[c != k]``; ordinal ``(sum_{g=c..k} n_g - (n_c + n_k)/2)^2``
    on the ranks of the value set (order: ``categories`` if given, else sorted values); interval
    ``(c - k)^2``; ratio ``((c - k)/(c + k))^2`` (non-negative numbers). Interval and ratio need
    numeric values. Undefined (``nan``) when ``D_e = 0`` (a single value everywhere) or nothing
    is pairable.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(
            f"level must be 'nominal', 'ordinal', 'interval' or 'ratio', got {level!r}"
        )
    if categories is not None and level != "ordinal":
        raise ValueError("categories= sets the order of values and only applies to level='ordinal'")
    units = [u for u in _units(data) if len(u) >= 2]
    values = [v for u in units for v in u]
    if level in ("interval", "ratio"):
        for v in values:
            if not isinstance(v, numbers.Real):
                raise ValueError(f"level={level!r} needs numeric values, got {v!r}")
            if level == "ratio" and v < 0:
                raise ValueError(f"level='ratio' needs non-negative values, got {v!r}")
    if not units:
        return _NAN
    cats = _categories(values, categories, ordered=level != "nominal")
    table = _count_table(units, cats)
    scaled = table / (table.sum(axis=1, keepdims=True) - 1)
    coincidence = scaled.T @ table - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    delta = _delta(level, cats, n_c)
    expected = float(n_c @ delta @ n_c)
    if expected <= _EPS * max(1.0, float(delta.max()) * n * n):
        return _NAN
    return float(1.0 - (n - 1) * float((coincidence * delta).sum()) / expected)


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    statistic_fn: Callable[[Any], Any],
    data: Any,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval for an agreement statistic, resampling *units* (rows).

    Each of ``n_boot`` resamples draws ``len(data)`` rows with replacement from
    ``numpy.random.default_rng(seed)`` and calls ``statistic_fn`` on them (an array if ``data``
    is an array, else a list of rows); the result may be a float or anything ``float()`` accepts
    (e.g. :class:`KappaResult`). Resamples where the statistic is undefined (``nan``) are
    skipped. Returns the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles, ``(nan, nan)`` if no
    resample was defined. (Krippendorff's own bootstrap resamples pairable values instead.)
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    is_array = isinstance(data, np.ndarray)
    rows = data if is_array else list(data)
    if len(rows) == 0:
        return (_NAN, _NAN)
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(rows), size=len(rows))
        sample = rows[idx] if is_array else [rows[i] for i in idx]
        value = float(statistic_fn(sample))
        if not math.isnan(value):
            estimates.append(value)
    if not estimates:
        return (_NAN, _NAN)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(estimates), [tail, 1.0 - tail])
    return (float(low), float(high))


MIN_UNITS_FOR_CI = 10  # fewer units than this: no interval ("too few units")


def interval(statistic_fn: Callable[[Any], Any], data: Any, *, n_boot: int = 1000, seed: int = 0,
             level: float = 0.95, min_units: int = MIN_UNITS_FOR_CI) -> dict:
    """A confidence interval that never collapses to a point, for reports.

    ``{"ci": [low, high] or None, "method": ..., "note": why there is none}``: the percentile
    bootstrap of :func:`bootstrap_ci` (resampling units); none when there are fewer than
    ``min_units`` units ("too few units"), when no resample is defined, or when every resample
    gives the same value (the data hold no information on the spread: e.g. perfect agreement on
    a handful of units, which would otherwise read as [1.000, 1.000]).
    """
    method = (f"percentile bootstrap over units ({n_boot} resamples, seed {seed}, "
              f"{level:.0%})")
    n = len(data)
    if n < min_units:
        return {"ci": None, "method": method,
                "note": f"too few units for an interval ({n} < {min_units})"}
    low, high = bootstrap_ci(statistic_fn, data, n_boot=n_boot, seed=seed, level=level)
    if math.isnan(low):
        return {"ci": None, "method": method, "note": "undefined in every resample"}
    if high - low <= _EPS:
        return {"ci": None, "method": method,
                "note": "every resample gives the same value: no spread to estimate"}
    return {"ci": [low, high], "method": method, "note": None}


# --------------------------------------------------------------------------- multilabel coding


def multilabel_to_binary(
    codings: Mapping[Hashable, Mapping[Hashable, Iterable[Hashable] | None]],
    codes: Iterable[Hashable],
) -> dict[Hashable, list[list[int | None]]]:
    """One binary reliability matrix per code from multilabel codings.

    ``codings[coder][unit]`` is the set of codes the coder applied to the unit (possibly empty).
    For each code the matrix has one row per unit (in order of first appearance, coders taken in
    ``codings`` order) and one column per coder: 1 if the coder applied the code, 0 if the coder
    coded the unit without it, ``None`` if the coder did not see the unit (no entry, or ``None``).
    Codes not listed in ``codes`` are ignored.
    """
    coders = list(codings)
    units = list(dict.fromkeys(unit for coder in coders for unit in codings[coder]))
    seen = {
        coder: {
            unit: set(applied) for unit, applied in codings[coder].items() if applied is not None
        }
        for coder in coders
    }
    result: dict[Hashable, list[list[int | None]]] = {}
    for code in codes:
        result[code] = [
            [
                None if unit not in seen[coder] else int(code in seen[coder][unit])
                for coder in coders
            ]
            for unit in units
        ]
    return result


def rollup(
    codeset: Iterable[Hashable],
    parent_of: Mapping[Hashable, Hashable | None] | Callable[[Hashable], Hashable | None],
) -> set[Hashable]:
    """The codes plus every ancestor of each (a construct is present when any sub-code is).

    ``parent_of`` maps a code to its parent: a mapping (codes absent from it are roots) or a
    function; ``None`` or ``""`` means no parent. For dotted ids, e.g.
    ``lambda c: c.rpartition(".")[0]``. Raises ``ValueError`` on a cycle.
    """
    parent = parent_of.get if isinstance(parent_of, Mapping) else parent_of
    codes = set(codeset)
    result = set(codes)
    for code in codes:
        chain = {code}
        up = parent(code)
        while up is not None and up != "":
            if up in chain:
                raise ValueError(f"parent_of has a cycle through {up!r}")
            chain.add(up)
            result.add(up)
            up = parent(up)
    return result


# --------------------------------------------------------------------------- interpretation


def landis_koch(kappa: float) -> str:
    """Landis & Koch's (1977) benchmark for a kappa-type coefficient.

    "poor" < 0 <= "slight" <= .20 < "fair" <= .40 < "moderate" <= .60 < "substantial" <= .80 <
    "almost perfect" <= 1; ``"n/a"`` for ``nan`` (undefined).
    """
    kappa = float(kappa)
    if math.isnan(kappa):
        return "n/a"
    if kappa > 1 + 1e-9:
        raise ValueError(f"a kappa cannot exceed 1, got {kappa}")
    if kappa < -_EPS:
        return "poor"
    for upper, label in (
        (0.20, "slight"),
        (0.40, "fair"),
        (0.60, "moderate"),
        (0.80, "substantial"),
    ):
        if kappa <= upper + _EPS:
            return label
    return "almost perfect"


def krippendorff_band(alpha: float) -> str:
    """Krippendorff's (2004) guideline: ``"reliable"`` for alpha >= .800, ``"tentative"`` for
    .667 <= alpha < .800 (tentative conclusions only), ``"unreliable"`` below; ``"n/a"`` for
    ``nan`` (undefined)."""
    alpha = float(alpha)
    if math.isnan(alpha):
        return "n/a"
    if alpha >= 0.800 - _EPS:
        return "reliable"
    if alpha >= 0.667 - _EPS:
        return "tentative"
    return "unreliable"
