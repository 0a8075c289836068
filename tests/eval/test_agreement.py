"""Tests for eval.agreement against published worked examples, hand computations, independent
reference implementations (brute-force pairwise alpha, numeric delta method, scikit-learn) and
properties that hold by construction."""

from __future__ import annotations

import math
import warnings
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from eval.agreement import (
    KappaResult,
    bootstrap_ci,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    krippendorff_band,
    landis_koch,
    multilabel_to_binary,
    percent_agreement,
    rollup,
    scott_pi,
)

N = None
LEVELS = ("nominal", "ordinal", "interval", "ratio")

# --------------------------------------------------------------------------- published examples

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for
# Communication, University of Pennsylvania. Example C: 4 observers (A-D) x 12 units, missing
# values. Published: nominal .743, ordinal .815, interval .849, ratio .797.
# Rows are units 1..12, columns observers A, B, C, D.
KRIPPENDORFF_2011 = [
    [1, 1, N, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [N, 5, 5, 5],
    [N, N, 1, 1],
    [N, 3, N, N],
]
KRIPPENDORFF_2011_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}

# Krippendorff (2011), Example A: binary data, two observers, 10 units; alpha = 0.095.
KRIPPENDORFF_BINARY = [
    [0, 1],
    [1, 1],
    [0, 1],
    [0, 0],
    [0, 0],
    [0, 1],
    [0, 0],
    [0, 0],
    [1, 0],
    [0, 0],
]

# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; each row
# gives how many raters put the subject in categories 1..5. Published intermediate values:
# P_i = 1.000 .253 .308 .440 .330 .462 .242 .176 .286 .286, p_j = .143 .200 .279 .150 .229,
# P-bar = 0.378, P_e = 0.213, kappa = 0.210.
FLEISS_WIKIPEDIA_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def counts_to_rows(counts, categories=None):
    """Reliability matrix from a subjects x categories count table (raters are exchangeable)."""
    categories = categories or list(range(1, len(counts[0]) + 1))
    return [[c for c, k in zip(categories, row, strict=True) for _ in range(k)] for row in counts]


def table_to_vectors(table, categories):
    """Two coders' vectors from a contingency table (rows: coder a, columns: coder b)."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [categories[i]] * count
            b += [categories[j]] * count
    return a, b


# Cohen, J. (1960). A coefficient of agreement for nominal scales. Educ. Psychol. Meas. 20, 37-46.
# Worked example with 200 units and 3 categories: p_o = .70, p_c = .41, kappa = .492. The counts
# below reproduce its diagonal (.44, .20, .06) and marginals (coder a .60 .30 .10, coder b .50
# .30 .20), which are all that p_o, p_c and kappa depend on.
COHEN_1960 = [
    [88, 14, 18],
    [10, 40, 10],
    [2, 6, 12],
]


@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_2011_example(level):
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, level=level)
    assert alpha == pytest.approx(KRIPPENDORFF_2011_ALPHA[level], abs=5e-4)


def test_krippendorff_2011_nominal_exact():
    # Hand computation of the paper's coincidence matrix: n = 40 pairable values, marginals
    # n_1..n_5 = 9, 13, 10, 5, 3 (sum of squares 384). Off-diagonal coincidences: unit 2
    # (2,2,3,2) gives 3*1*2 ordered 2-3 pairs / (4-1) = 2, unit 6 (1,2,3,4) 12/3 = 4, unit 8
    # (1,1,2,1) 6/3 = 2, in all 8. alpha = 1 - (n - 1) * 8 / (n^2 - 384) = 1 - 312/1216 = .74342
    assert krippendorff_alpha(KRIPPENDORFF_2011) == pytest.approx(1 - 39 * 8 / (1600 - 384))


def test_krippendorff_binary_example():
    # Published 0.095; exactly 1 - (n - 1) o_01 / (n_0 n_1) = 1 - 19 * 4 / (14 * 6).
    alpha = krippendorff_alpha(KRIPPENDORFF_BINARY)
    assert alpha == pytest.approx(0.095, abs=5e-4)
    assert alpha == pytest.approx(1 - 19 * 4 / (14 * 6))


def test_krippendorff_accepts_nan_array_and_strings():
    as_array = np.array([[np.nan if v is None else v for v in row] for row in KRIPPENDORFF_2011])
    assert krippendorff_alpha(as_array) == pytest.approx(krippendorff_alpha(KRIPPENDORFF_2011))
    names = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    as_text = [[None if v is None else names[v] for v in row] for row in KRIPPENDORFF_2011]
    assert krippendorff_alpha(as_text) == pytest.approx(0.743, abs=5e-4)
    # Ordinal with text values needs their order.
    order = ["one", "two", "three", "four", "five"]
    assert krippendorff_alpha(as_text, level="ordinal", categories=order) == pytest.approx(
        0.815, abs=5e-4
    )
    with pytest.raises(TypeError, match="categories"):
        krippendorff_alpha([["a", 1], [2, "b"]], level="ordinal")
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(as_text, level="interval")


def test_fleiss_wikipedia_example():
    rows = counts_to_rows(FLEISS_WIKIPEDIA_COUNTS)
    assert all(len(r) == 14 for r in rows)
    assert fleiss_kappa(rows) == pytest.approx(0.210, abs=5e-4)
    # The published intermediate P-bar = 0.378 is the percent agreement.
    assert percent_agreement(rows) == pytest.approx(0.378, abs=5e-4)


def test_cohen_1960_example():
    a, b = table_to_vectors(COHEN_1960, ["x", "y", "z"])
    result = cohen_kappa(a, b)
    assert isinstance(result, KappaResult)
    assert result.n == 200
    assert result.po == pytest.approx(0.70)
    assert result.pe == pytest.approx(0.41)
    assert result.value == pytest.approx(0.492, abs=5e-4)
    assert float(result) == result.value
    lo, hi = result.ci
    assert lo == pytest.approx(result.value - 1.959964 * result.se, abs=1e-6)
    assert hi == pytest.approx(result.value + 1.959964 * result.se, abs=1e-6)
    assert 0 < result.se < 0.1


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_matches_sklearn(weights):
    a, b = table_to_vectors(COHEN_1960, [1, 2, 3])
    expected = cohen_kappa_score(a, b, weights=weights, labels=[1, 2, 3])
    assert cohen_kappa(a, b, weights=weights).value == pytest.approx(expected)


def test_weighted_kappa_uses_category_order():
    # Text categories: the order must come from `categories`, and it matters for weights.
    order = ["low", "mid", "high"]
    a, b = table_to_vectors(COHEN_1960, order)
    ia = [order.index(x) for x in a]
    ib = [order.index(x) for x in b]
    for weights in ("linear", "quadratic"):
        got = cohen_kappa(a, b, weights=weights, categories=order).value
        assert got == pytest.approx(cohen_kappa_score(ia, ib, weights=weights))
    # Sorted text order is high < low < mid, a different (and here wrong) scale.
    alphabetical = cohen_kappa(a, b, weights="linear").value
    assert alphabetical != pytest.approx(
        cohen_kappa(a, b, weights="linear", categories=order).value
    )


def _kappa_from_probs(p, w):
    p = p / p.sum()
    row, col = p.sum(1), p.sum(0)
    po, pe = (w * p).sum(), (w * np.outer(row, col)).sum()
    return (po - pe) / (1 - pe)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_se_equals_delta_method(weights):
    # The Fleiss-Cohen-Everitt (1969) variance is the first-order (delta-method) variance of
    # kappa under multinomial sampling: var = (sum p g^2 - (sum p g)^2) / n, g = d kappa / d p.
    # Checked here with a numeric gradient, independently of the closed form.
    table = np.array(COHEN_1960, dtype=float)
    n = table.sum()
    k = table.shape[0]
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    w = {
        None: np.eye(k),
        "linear": 1 - np.abs(i - j) / (k - 1),
        "quadratic": 1 - (i - j) ** 2 / (k - 1) ** 2,
    }[weights]
    p = (table / n).ravel()
    grad = np.zeros_like(p)
    h = 1e-6
    for idx in range(p.size):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (
            _kappa_from_probs(up.reshape(k, k), w) - _kappa_from_probs(down.reshape(k, k), w)
        ) / (2 * h)
    var = ((p * grad**2).sum() - (p * grad).sum() ** 2) / n
    a, b = table_to_vectors(COHEN_1960, [1, 2, 3])
    result = cohen_kappa(a, b, weights=weights)
    assert result.value == pytest.approx(_kappa_from_probs(table, w))
    assert result.se == pytest.approx(math.sqrt(var), rel=1e-5)


def test_cohen_drops_missing_units():
    a = ["x", "y", None, "x", np.nan, "y"]
    b = ["x", "y", "x", None, "y", "x"]
    # Remaining units: (x,x), (y,y), (y,x): p_o = 2/3, p_e = (1/3)(2/3) + (2/3)(1/3) = 4/9
    result = cohen_kappa(a, b)
    assert result.n == 3
    assert result.value == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))
    with pytest.raises(ValueError, match="equal"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(ValueError, match="not one of"):
        cohen_kappa([1, 2], [1, 3], categories=[1, 2])


# Gwet, K.L. (2014) Handbook of Inter-Rater Reliability, 4th ed., with missing ratings (values as
# printed there and by Gwet's irrCAC/AgreeStat): 4 raters x 12 units on 1-5 (p.120; Krippendorff's
# Example C again), 5 observers x 15 units on 0-3 (after p.125), 4 raters x 14 units on a-e.
GWET_4RATERS = KRIPPENDORFF_2011
GWET_5OBSERVERS = [list(r) for r in zip(
    [1, 1, 2, N, 0, 0, 1, 1, 2, 2, N, 0, 1, 3, 1],
    [1, 1, 3, 0, 0, 0, 0, N, 2, 1, 1, 0, 2, 3, 1],
    [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
    [N, 1, 3, N, N, N, N, 0, N, 1, 0, 0, 2, 2, N],
    [2, N, N, 0, 0, 0, 1, N, 2, N, N, N, N, 3, 1], strict=True)]
GWET_G1G2 = [list(r) for r in zip(
    ["a", "b", "c", "c", "b", "a", "d", "a", "b", N, N, N, "b", "b"],
    ["a", "b", "c", "c", "b", "b", "d", "a", "b", "e", N, N, "b", "a"],
    [N, "c", "c", "c", "b", "c", "d", "b", "b", "e", "a", "c", "c", "c"],
    ["a", "b", "c", "c", "b", "d", "d", "a", "b", "e", "a", N, "b", "b"], strict=True)]


@pytest.mark.parametrize(
    ("rows", "pa", "fleiss", "ac1", "bp"),
    [(GWET_4RATERS, 0.818, 0.7612, 0.775, 0.773),
     (GWET_5OBSERVERS, 0.616, 0.458, 0.497, 0.487),
     (GWET_G1G2, 0.744, 0.657, 0.685, 0.679)],
    ids=["4raters", "5observers", "g1g2"])
def test_gwet_handbook_missing_ratings(rows, pa, fleiss, ac1, bp):
    digits = 5e-5 if fleiss == 0.7612 else 5e-4
    assert percent_agreement(rows) == pytest.approx(pa, abs=5e-4)
    assert fleiss_kappa(rows) == pytest.approx(fleiss, abs=digits)
    assert gwet_ac1(rows) == pytest.approx(ac1, abs=5e-4)
    assert brennan_prediger(rows) == pytest.approx(bp, abs=5e-4)
    # pooled marginals (ratings of pairable units only) miss the printed values
    assert fleiss_kappa(rows, missing="pooled") != pytest.approx(fleiss, abs=digits)


# --------------------------------------------------------------------------- hand computations

# 2 coders, 100 units, yes/no:     b=yes  b=no
#                        a=yes       40     10
#                        a=no        20     30
# p_o = .70. Marginals a: yes .50, no .50; b: yes .60, no .40.
#   Cohen:   p_e = .5*.6 + .5*.4 = .50                 kappa = .20/.50 = .400
#   Scott:   pi_yes = .55, pi_no = .45, p_e = .55^2 + .45^2 = .505, pi = .195/.495 = .393939...
#   Gwet:    p_e = 1/(2-1) * (.55*.45 + .45*.55) = .495,  AC1 = .205/.505 = .405941
#   Brennan-Prediger: p_e = 1/2,                          BP = .20/.50 = .400
TWO_BY_TWO = [[40, 10], [20, 30]]


def test_two_by_two_by_hand():
    a, b = table_to_vectors(TWO_BY_TWO, ["yes", "no"])
    rows = [list(pair) for pair in zip(a, b, strict=True)]
    assert percent_agreement(rows) == pytest.approx(0.70)
    assert cohen_kappa(a, b).value == pytest.approx(0.40)
    assert scott_pi(a, b) == pytest.approx(0.195 / 0.495)
    assert fleiss_kappa(rows) == pytest.approx(0.195 / 0.495)  # Fleiss with 2 coders = Scott
    assert gwet_ac1(rows) == pytest.approx(0.205 / 0.505)
    assert brennan_prediger(rows) == pytest.approx(0.40)
    # A scheme with 4 categories of which two were used: p_e = 1/4, BP = (.7 - .25)/.75 = .6
    assert brennan_prediger(rows, n_categories=4) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="n_categories"):
        brennan_prediger(rows, n_categories=1)


def test_three_categories_by_hand():
    # a = a a a a b b b c c c ; b = a a a b b b c c c a -> agree on 7 of 10 units.
    # Marginals a: (.4, .3, .3), b: (.4, .3, .3), so pi = (.4, .3, .3).
    #   AC1: p_e = 1/(3-1) * (.4*.6 + .3*.7 + .3*.7) = .66/2 = .33, AC1 = .37/.67
    #   BP:  p_e = 1/3, BP = (.7 - 1/3) / (2/3) = .55
    #   Cohen = Scott: p_e = .16 + .09 + .09 = .34, kappa = .36/.66
    a = list("aaaabbbccc")
    b = list("aaabbbccca")
    rows = [list(pair) for pair in zip(a, b, strict=True)]
    assert gwet_ac1(rows) == pytest.approx(0.37 / 0.67)
    assert brennan_prediger(rows) == pytest.approx(0.55)
    assert cohen_kappa(a, b).value == pytest.approx(0.36 / 0.66)
    assert scott_pi(a, b) == pytest.approx(0.36 / 0.66)
    # With a scheme of four categories (d unused): AC1 p_e = .66/3 = .22 -> (.7 - .22)/.78
    assert gwet_ac1(rows, categories=list("abcd")) == pytest.approx(0.48 / 0.78)


def test_multirater_missing_by_hand():
    # 3 coders, 4 units:  u1 a a a (agreement 1), u2 a b - (0), u3 b b - (1), u4 a - - (single)
    #   percent agreement = mean(1, 0, 1) = 2/3 (u4 has no pairs)
    #   AC1: pi over units with >= 1 rating: pi_a = (1 + .5 + 0 + 1)/4 = .625, pi_b = .375
    #        p_e = 2 * .625 * .375 = .46875, AC1 = (2/3 - 15/32) / (17/32) = 19/51
    #   Fleiss, Gwet's handbook (pi as for AC1): P_e = .625^2 + .375^2 = 17/32,
    #        kappa = (2/3 - 17/32) / (15/32) = 13/45
    #   Fleiss pooled (units with >= 2 ratings): p_a = 4/7, p_b = 3/7, P_e = 25/49,
    #        kappa = (2/3 - 25/49) / (24/49) = 23/72
    #   BP: (2/3 - 1/2) / (1/2) = 1/3
    #   alpha: pairable values 7 (a: 4, b: 3); o_ab = 1/(2-1) = 1 per ordered pair in u2
    #        alpha = 1 - (7 - 1) * 2 * 1 / (2 * 4 * 3) = 1 - 12/24 = 0.5
    rows = [["a", "a", "a"], ["a", "b", None], ["b", None, "b"], [None, "a", None]]
    assert percent_agreement(rows) == pytest.approx(2 / 3)
    assert gwet_ac1(rows) == pytest.approx(19 / 51)
    assert fleiss_kappa(rows) == pytest.approx(13 / 45)
    assert fleiss_kappa(rows, missing="pooled") == pytest.approx(23 / 72)
    with pytest.raises(ValueError, match="missing"):
        fleiss_kappa(rows, missing="drop")
    assert brennan_prediger(rows) == pytest.approx(1 / 3)
    assert krippendorff_alpha(rows) == pytest.approx(0.5)


# --------------------------------------------------------------------------- degenerate input


def test_single_category_everywhere_is_undefined():
    rows = [["x", "x", "x"], ["x", "x", None], ["x", "x", "x"]]
    a = [r[0] for r in rows]
    b = [r[1] for r in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for level in ("nominal", "ordinal"):
            assert math.isnan(krippendorff_alpha(rows, level=level))
        numeric = [[1, 1], [1, 1]]
        assert math.isnan(krippendorff_alpha(numeric, level="interval"))
        assert math.isnan(krippendorff_alpha(numeric, level="ratio"))
        assert math.isnan(fleiss_kappa(rows))
        assert math.isnan(gwet_ac1(rows))
        assert math.isnan(brennan_prediger(rows))
        assert math.isnan(scott_pi(a, b))
        result = cohen_kappa(a, b)
        assert math.isnan(result.value) and math.isnan(result.se)
        assert all(math.isnan(x) for x in result.ci)
        assert percent_agreement(rows) == 1.0  # observed agreement itself is defined
    assert landis_koch(result.value) == "n/a"
    assert krippendorff_band(krippendorff_alpha(rows)) == "n/a"


def test_nothing_pairable_is_undefined():
    rows = [[1, None], [None, 2], [None, None]]
    for fn in (percent_agreement, fleiss_kappa, gwet_ac1, brennan_prediger, krippendorff_alpha):
        assert math.isnan(fn(rows))
    assert math.isnan(krippendorff_alpha([]))
    assert math.isnan(cohen_kappa([1, None], [None, 2]).value)
    assert math.isnan(scott_pi([], []))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="row 1"):
        krippendorff_alpha([[1, 2], [1, 2, 3]])
    with pytest.raises(TypeError, match="row 0, coder 1"):
        krippendorff_alpha([[1, [2]], [1, 2]])
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha([[1, 2]], level="circular")
    with pytest.raises(ValueError, match="non-negative"):
        krippendorff_alpha([[1, -2]], level="ratio")


# --------------------------------------------------------------------------- reference alpha


def _reference_alpha(rows, level):
    """Krippendorff's alpha straight from its pairwise definition (no coincidence matrix):
    D_o averages delta over ordered pairs of values within units (each unit weighted by
    1/(m_u - 1)), D_e over all ordered pairs of pairable values."""
    units = [[v for v in row if v is not None] for row in rows]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    if n < 2:
        return math.nan
    counts = {v: values.count(v) for v in set(values)}

    def delta(c, k):
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return float((c - k) ** 2)
        if level == "ratio":
            return 0.0 if c + k == 0 else ((c - k) / (c + k)) ** 2
        lo, hi = min(c, k), max(c, k)
        between = sum(m for g, m in counts.items() if lo <= g <= hi)
        return (between - (counts[c] + counts[k]) / 2) ** 2

    d_o = (
        sum(
            delta(u[i], u[j]) / (len(u) - 1)
            for u in units
            for i in range(len(u))
            for j in range(len(u))
            if i != j
        )
        / n
    )
    d_e = sum(delta(values[i], values[j]) for i in range(n) for j in range(n) if i != j) / (
        n * (n - 1)
    )
    return math.nan if d_e == 0 else 1 - d_o / d_e


@pytest.mark.parametrize("level", LEVELS)
def test_reference_alpha_reproduces_published(level):
    # Sanity check of the reference itself on the published example.
    assert _reference_alpha(KRIPPENDORFF_2011, level) == pytest.approx(
        KRIPPENDORFF_2011_ALPHA[level], abs=5e-4
    )


# --------------------------------------------------------------------------- properties

cell = st.one_of(st.none(), st.integers(0, 3))


@st.composite
def reliability(draw, min_coders=2, max_coders=5, max_units=12, values=cell):
    k = draw(st.integers(min_coders, max_coders))
    n = draw(st.integers(1, max_units))
    return draw(st.lists(st.lists(values, min_size=k, max_size=k), min_size=n, max_size=n))


def _same(x, y):
    return (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-9)


MULTI_RATER = (percent_agreement, fleiss_kappa, gwet_ac1, brennan_prediger)


@settings(max_examples=150, deadline=None)
@given(reliability())
def test_alpha_matches_pairwise_reference(rows):
    for level in LEVELS:
        assert _same(krippendorff_alpha(rows, level=level), _reference_alpha(rows, level))


@settings(deadline=None)
@given(reliability(), st.randoms(use_true_random=False))
def test_permuting_coders_changes_nothing(rows, rnd):
    order = list(range(len(rows[0])))
    rnd.shuffle(order)
    shuffled = [[row[j] for j in order] for row in rows]
    for level in LEVELS:
        assert _same(
            krippendorff_alpha(rows, level=level), krippendorff_alpha(shuffled, level=level)
        )
    for fn in MULTI_RATER:
        assert _same(fn(rows), fn(shuffled))


@settings(deadline=None)
@given(reliability(), st.integers(0, 3), st.integers(0, 3))
def test_all_missing_rows_and_columns_change_nothing(rows, extra_rows, extra_cols):
    padded = [row + [None] * extra_cols for row in rows]
    padded += [[None] * len(padded[0]) for _ in range(extra_rows)]
    for level in LEVELS:
        assert _same(krippendorff_alpha(rows, level=level), krippendorff_alpha(padded, level=level))
    for fn in MULTI_RATER:
        assert _same(fn(rows), fn(padded))


@settings(deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=20),
    st.integers(2, 5),
)
def test_perfect_agreement_gives_one(units, n_coders):
    # Every coder who coded a unit gave it the same value; unit i is coded by 2 + extra_i coders
    # (the rest missing). Defined (and then 1) as soon as two distinct values occur.
    rows = []
    for value, extra in units:
        coded = min(2 + extra, n_coders)
        rows.append([value] * coded + [None] * (n_coders - coded))
    defined = len({row[0] for row in rows}) >= 2
    two = [row[0] for row in rows]
    results = [krippendorff_alpha(rows, level=level) for level in LEVELS]
    results += [fn(rows) for fn in MULTI_RATER]
    results += [cohen_kappa(two, two).value, scott_pi(two, two)]
    for value in results:
        if defined:
            assert value == pytest.approx(1.0)
        else:
            assert math.isnan(value) or value == pytest.approx(1.0)
    assert percent_agreement(rows) == 1.0


pairs = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30)


@settings(deadline=None)
@given(pairs)
def test_copying_a_coder_never_lowers_percent_agreement(units):
    # With coders A, B (no missing) and a third coder copying A, a unit where A = B keeps
    # agreement 1 and a unit where A != B goes from 0 to 1/3 (pairs AB, A'B disagree, AA'
    # agrees): p_new = p + (1 - p)/3 >= p.
    rows = [[x, y] for x, y in units]
    with_copy = [[x, y, x] for x, y in units]
    p = percent_agreement(rows)
    assert percent_agreement(with_copy) == pytest.approx(p + (1 - p) / 3)
    assert percent_agreement(with_copy) >= p - 1e-12


@settings(deadline=None)
@given(pairs)
def test_two_coder_identities(units):
    a = [x for x, _ in units]
    b = [y for _, y in units]
    rows = [list(u) for u in units]
    pi = scott_pi(a, b)
    # Fleiss' kappa with two coders is Scott's pi.
    assert _same(fleiss_kappa(rows), pi)
    # Nominal alpha and Scott's pi differ only by the small-sample factor (2N - 1)/(2N).
    n = len(units)
    expected_alpha = math.nan if math.isnan(pi) else 1 - (2 * n - 1) / (2 * n) * (1 - pi)
    assert _same(krippendorff_alpha(rows), expected_alpha)
    # Cohen's kappa is symmetric in the coders and agrees with scikit-learn.
    k = cohen_kappa(a, b)
    assert _same(k.value, cohen_kappa(b, a).value)
    assert _same(k.se, cohen_kappa(b, a).se)
    if not math.isnan(k.value):
        for weights in (None, "linear", "quadratic"):
            expected = cohen_kappa_score(a, b, weights=weights, labels=[0, 1, 2, 3])
            got = cohen_kappa(a, b, weights=weights, categories=[0, 1, 2, 3]).value
            if not math.isnan(expected):
                assert got == pytest.approx(expected, abs=1e-9)


@settings(deadline=None)
@given(reliability(max_units=8))
def test_numpy_nan_input_equals_none_input(rows):
    array = np.array([[np.nan if v is None else float(v) for v in row] for row in rows])
    for level in LEVELS:
        assert _same(krippendorff_alpha(rows, level=level), krippendorff_alpha(array, level=level))
    for fn in MULTI_RATER:
        assert _same(fn(rows), fn(array))


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_contains_estimate():
    first = bootstrap_ci(krippendorff_alpha, KRIPPENDORFF_2011, n_boot=500, seed=7)
    again = bootstrap_ci(krippendorff_alpha, KRIPPENDORFF_2011, n_boot=500, seed=7)
    assert first == again
    alpha = krippendorff_alpha(KRIPPENDORFF_2011)
    low, high = bootstrap_ci(krippendorff_alpha, KRIPPENDORFF_2011)
    assert low <= alpha <= high
    assert low < high
    narrow = bootstrap_ci(krippendorff_alpha, KRIPPENDORFF_2011, level=0.5)
    assert low <= narrow[0] <= narrow[1] <= high


def test_bootstrap_arrays_results_and_undefined_resamples():
    data = np.array([[1.0, 1.0], [2.0, 2.0], [1.0, 2.0], [2.0, 2.0]])
    seen = []

    def stat(sample):
        seen.append(type(sample))
        return cohen_kappa(sample[:, 0], sample[:, 1])  # a KappaResult; nan for some resamples

    low, high = bootstrap_ci(stat, data, n_boot=200, seed=1)
    assert seen and all(t is np.ndarray for t in seen)
    assert -1 <= low <= high <= 1
    undefined = bootstrap_ci(lambda s: math.nan, data, n_boot=10)
    assert len(undefined) == 2 and all(math.isnan(x) for x in undefined)
    with pytest.raises(ValueError):
        bootstrap_ci(krippendorff_alpha, data, n_boot=0)
    with pytest.raises(ValueError):
        bootstrap_ci(krippendorff_alpha, data, level=1.5)


# --------------------------------------------------------------------------- multilabel


def test_multilabel_to_binary():
    codings = {
        "ann": {"u1": {"a", "b"}, "u2": set()},
        "bob": {"u1": {"a"}, "u3": ["b"], "u2": None},
    }
    out = multilabel_to_binary(codings, ["a", "b"])
    assert list(out) == ["a", "b"]
    assert out["a"] == [[1, 1], [0, None], [None, 0]]
    assert out["b"] == [[1, 0], [0, None], [None, 1]]
    assert math.isnan(krippendorff_alpha(out["a"]))  # only u1 pairable, both say 1


def test_rollup():
    parents = {"npt.coherence.differentiation": "npt.coherence", "npt.coherence": "npt"}
    assert rollup({"npt.coherence.differentiation", "x"}, parents) == {
        "npt.coherence.differentiation",
        "npt.coherence",
        "npt",
        "x",
    }
    by_id = rollup(["integrating.sensemaking"], lambda c: c.rpartition(".")[0])
    assert by_id == {"integrating.sensemaking", "integrating"}
    assert rollup(set(), parents) == set()
    with pytest.raises(ValueError, match="cycle"):
        rollup({"a"}, {"a": "b", "b": "a"})


# --------------------------------------------------------------------------- interpretation


@pytest.mark.parametrize(
    ("kappa", "label"),
    [
        (-0.3, "poor"),
        (-0.01, "poor"),
        (0.0, "slight"),
        (0.2, "slight"),
        (0.21, "fair"),
        (0.4, "fair"),
        (0.41, "moderate"),
        (0.6, "moderate"),
        (0.61, "substantial"),
        (0.8, "substantial"),
        (0.81, "almost perfect"),
        (1.0, "almost perfect"),
        (math.nan, "n/a"),
    ],
)
def test_landis_koch(kappa, label):
    assert landis_koch(kappa) == label


def test_krippendorff_band():
    assert krippendorff_band(0.8) == "reliable"
    assert krippendorff_band(1.0) == "reliable"
    assert krippendorff_band(0.799) == "tentative"
    assert krippendorff_band(0.667) == "tentative"
    assert krippendorff_band(0.666) == "unreliable"
    assert krippendorff_band(-0.2) == "unreliable"
    assert krippendorff_band(math.nan) == "n/a"
    assert krippendorff_band(krippendorff_alpha(KRIPPENDORFF_2011)) == "tentative"
    assert krippendorff_band(krippendorff_alpha(KRIPPENDORFF_2011, level="ordinal")) == "reliable"
    with pytest.raises(ValueError):
        landis_koch(1.5)


def test_every_permutation_of_krippendorff_example():
    # Exhaustive version of the permutation property on the published data.
    for order in permutations(range(4)):
        rows = [[row[j] for j in order] for row in KRIPPENDORFF_2011]
        assert krippendorff_alpha(rows) == pytest.approx(0.743, abs=5e-4)
