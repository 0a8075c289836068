"""Every worked example of ``agreement_reference/published_examples.json`` (the values printed in
the cited sources, each within the tolerance the file gives) reproduced by precode's agreement
code. The file is read as it is; each case's data goes through the public functions."""

from __future__ import annotations

import json
import math

import pytest

from eval.agreement import (
    bennett_s,
    category_kappa,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    light_kappa,
    percent_agreement,
    randolph_kappa,
    scott_pi,
)
from eval.agreement_io import Span
from eval.icc import icc
from eval.set_agreement import (
    alpha_with_distance,
    jaccard_distance,
    masi_distance,
    set_distance,
    set_overlap,
)
from eval.spans import character_agreement
from eval.unitizing import unitizing_alpha

CASE_NAMES = [
    "artstein_poesio2008_p558_2x2",
    "artstein_poesio2008_p568_3cat_weighted",
    "hayes_krippendorff2007_p84_5obs_40units_ordinal",
    "krippendorff1980_p133_binary_2coders_10units",
    "krippendorff1980_p139_3coders_9units",
    "zwick1988_p376_ex1",
    "zwick1988_p376_ex2",
    "zwick1988_p376_ex3",
    "randolph2005_p17_ex1",
    "randolph2005_p17_ex2",
    "warrens2010_p284_8raters_30items",
    "agresti1992_landis_koch1977_4cat",
    "dkpro_set_annotations_9items_multilabel",
    "masi_distance_nltk_example",
    "krippendorff2004_p254_unitizing_u_alpha",
    "krippendorff1995_p57_unitizing_4pairs",
    "shrout_fleiss1979_table2_icc",
]


@pytest.fixture(scope="module")
def cases(reference_data):
    path = reference_data / "agreement_reference" / "published_examples.json"
    return {c["name"]: c for c in json.loads(path.read_text(encoding="utf-8"))["cases"]}


def test_every_case_is_checked(cases):
    assert sorted(cases) == sorted(CASE_NAMES)


def _vectors(case):
    """Two coders' values from a contingency table ``{row label: {column label: count}}``."""
    a, b = [], []
    for row, cols in case["contingency"].items():
        for col, count in cols.items():
            a += [row] * count
            b += [col] * count
    assert len(a) == case["n_items"]
    return a, b


def _implied_chance(observed: float, coefficient: float) -> float:
    """A_e from A_o and (A_o - A_e) / (1 - A_e)."""
    return (observed - coefficient) / (1 - coefficient)


def _close(got, want, tol):
    assert got == pytest.approx(want, abs=tol), f"got {got}, published {want}"


def _two_coder_contingency(case):
    exp, tol = case["expected"], case["tolerance"]
    a, b = _vectors(case)
    rows = [list(p) for p in zip(a, b, strict=True)]
    q = len(case["categories"]) if "q=4" not in case["statistic"] else 4
    po = percent_agreement(rows)
    _close(po, exp["percent_agreement"], tol)
    s, pi, kappa = bennett_s(rows, q), scott_pi(a, b), cohen_kappa(a, b)
    _close(s, exp["bennett_s"], tol)
    _close(pi, exp["scott_pi"], tol)
    _close(kappa.value, exp["cohen_kappa"], tol)
    for key, value in (("bennett_s_Ae", s), ("scott_pi_Ae", pi)):
        if key in exp:
            _close(_implied_chance(po, value), exp[key], tol)
    if "cohen_kappa_Ae" in exp:
        _close(kappa.pe, exp["cohen_kappa_Ae"], tol)
    return a, b, rows


@pytest.mark.parametrize("name", ["artstein_poesio2008_p558_2x2", "zwick1988_p376_ex1",
                                  "zwick1988_p376_ex2", "zwick1988_p376_ex3"])
def test_two_coder_tables(cases, name):
    _two_coder_contingency(cases[name])


def test_artstein_poesio_weighted(cases):
    case = cases["artstein_poesio2008_p568_3cat_weighted"]
    exp, tol = case["expected"], case["tolerance"]
    a, b, rows = _two_coder_contingency(case)
    nominal = alpha_with_distance(rows, lambda x, y: float(x != y))
    _close(krippendorff_alpha(rows), exp["krippendorff_alpha_nominal"], tol)
    assert nominal["alpha"] == pytest.approx(krippendorff_alpha(rows))
    _close(nominal["D_o"], exp["krippendorff_alpha_nominal_Do"], tol)
    _close(nominal["D_e"], exp["krippendorff_alpha_nominal_De"], tol)

    def distance(x, y):  # the paper's: 0 same, 0.5 with Chck, 1 STAT vs IReq
        return 0.0 if x == y else 0.5 if "Chck" in (x, y) else 1.0

    weighted = alpha_with_distance(rows, distance)
    _close(weighted["alpha"], exp["krippendorff_alpha_weighted"], tol)
    _close(weighted["D_o"], exp["krippendorff_alpha_weighted_Do"], tol)
    _close(weighted["D_e"], exp["krippendorff_alpha_weighted_De"], tol)
    cats = case["categories"]
    agree = [[1 - distance(x, y) for y in cats] for x in cats]
    kw = cohen_kappa(a, b, weights=agree, categories=cats)
    _close(kw.value, exp["weighted_kappa"], tol)
    _close(1 - kw.po, exp["weighted_kappa_Do"], tol)
    _close(1 - kw.pe, exp["weighted_kappa_De"], tol)


def test_hayes_krippendorff_ordinal(cases):
    case = cases["hayes_krippendorff2007_p84_5obs_40units_ordinal"]
    _close(krippendorff_alpha(case["data"], level="ordinal"), case["expected"]["ordinal"],
           case["tolerance"])


def test_krippendorff_1980_binary(cases):
    case = cases["krippendorff1980_p133_binary_2coders_10units"]
    exp, tol = case["expected"], case["tolerance"]
    _close(percent_agreement(case["data"]), exp["percent_agreement"], tol)
    _close(krippendorff_alpha(case["data"]), exp["krippendorff_alpha_nominal"], tol)
    parts = alpha_with_distance(case["data"], lambda x, y: float(x != y))
    _close(parts["D_o"], exp["Do"], tol)
    _close(parts["D_e"], exp["De"], tol)


def test_krippendorff_1980_three_coders(cases):
    case = cases["krippendorff1980_p139_3coders_9units"]
    exp, tol = case["expected"], case["tolerance"]
    data = case["data"]
    m = len(data[0])
    pairwise = [percent_agreement([[r[g], r[h]] for r in data])
                for g in range(m) for h in range(g + 1, m)]
    _close(sum(pairwise) / len(pairwise), exp["percent_agreement_mean_pairwise"], tol)
    for level in ("nominal", "interval", "ratio"):
        _close(krippendorff_alpha(data, level=level), exp[level], tol)
    parts = alpha_with_distance(data, lambda x, y: float(x != y))
    _close(parts["D_o"], exp["nominal_Do"], tol)
    _close(parts["D_e"], exp["nominal_De"], tol)


@pytest.mark.parametrize("name", ["randolph2005_p17_ex1", "randolph2005_p17_ex2"])
def test_randolph_kappa_paradox(cases, name):
    case = cases[name]
    exp, tol = case["expected"], case["tolerance"]
    data = case["data"]
    _close(fleiss_kappa(data), exp["fleiss_kappa"], tol)
    _close(randolph_kappa(data, 2), exp["randolph_kappa"], tol)
    if "fleiss_Ao" in exp:
        po = percent_agreement(data)
        _close(po, exp["fleiss_Ao"], tol)
        _close(_implied_chance(po, fleiss_kappa(data)), exp["fleiss_Ae"], tol)


def test_warrens_eight_raters(cases):
    case = cases["warrens2010_p284_8raters_30items"]
    exp, tol = case["expected"], case["tolerance"]
    data = [list(item) for item in case["data"]]
    _close(randolph_kappa(data, 2), exp["randolph_kappa"], tol)
    _close(fleiss_kappa(data), exp["fleiss_kappa"], tol)
    _close(conger_kappa(data), exp["hubert_kappa"], tol)
    _close(light_kappa(data), exp["light_kappa"], tol)


def test_agresti_category_kappa(cases):
    case = cases["agresti1992_landis_koch1977_4cat"]
    exp, tol = case["expected"], case["tolerance"]
    a, b = _vectors(case)
    _close(cohen_kappa(a, b).value, exp["cohen_kappa"], tol)
    per_category = category_kappa([list(p) for p in zip(a, b, strict=True)])
    for category, want in exp["category_kappa_fleiss_style"].items():
        _close(per_category[category], want, tol)


def test_set_valued_alpha(cases):
    case = cases["dkpro_set_annotations_9items_multilabel"]
    exp, tol = case["expected"], case["tolerance"]
    rows = [[frozenset(a), frozenset(b)] for a, b in case["data"]]
    by_set = alpha_with_distance(rows, set_distance)
    _close(by_set["alpha"], exp["krippendorff_alpha_set_distance"], tol)
    _close(by_set["D_o"], exp["set_Do"], tol)
    _close(by_set["D_e"], exp["set_De"], tol)
    overlap = set_overlap(case["data"])
    _close(overlap["exact"], exp["percent_agreement_exact_set"], tol)
    _close(overlap["any_overlap"], exp["max_percent_agreement_any_overlap"], tol)
    _close(overlap["dice"], exp["dice_mean"], tol)
    # dkpro's "MASI" is Jaccard distance times the set distance, not Passonneau's 1 - J * M.
    variant = alpha_with_distance(rows, lambda x, y: jaccard_distance(x, y) * set_distance(x, y))
    _close(variant["alpha"], exp["krippendorff_alpha_dkpro_MASI_variant"], tol)
    _close(variant["D_o"], exp["dkpro_MASI_Do"], tol)
    _close(variant["D_e"], exp["dkpro_MASI_De"], tol)
    published_masi = alpha_with_distance(rows, masi_distance)["alpha"]
    _close(published_masi, case["computed_only"]["krippendorff_alpha_MASI_passonneau2006_definition"],
           tol)


def test_masi_distance(cases):
    case = cases["masi_distance_nltk_example"]
    exp, tol = case["expected"], case["tolerance"]
    a, b = case["data"]["a"], case["data"]["b"]
    _close(jaccard_distance(a, b), exp["jaccard_distance"], tol)
    _close(masi_distance(a, b), exp["masi_distance_exact_definition"], tol)  # exact thirds


def test_unitizing_alpha_2004(cases):
    case = cases["krippendorff2004_p254_unitizing_u_alpha"]
    exp, tol = case["expected"], case["tolerance"]
    result = unitizing_alpha(case["units"], begin=case["continuum"]["begin"],
                             length=case["continuum"]["length"])
    _close(result["alpha"], exp["u_alpha_overall"], tol["u_alpha_overall"])
    for category in ("c", "k"):
        got = result["categories"][category]
        for key, name in (("Do", "D_o"), ("De", "D_e"), ("alpha", "alpha")):
            _close(got[name], exp[category][key], tol["category"])


def _pair_units(units):
    first, second = units
    return [(s, n, 0, "x") for s, n in first] + [(s, n, 1, "x") for s, n in second]


def test_unitizing_alpha_1995(cases):
    case = cases["krippendorff1995_p57_unitizing_4pairs"]
    exp, tol = case["expected"], case["tolerance"]
    length = case["continuum"]["length"]
    stretch = 50_000  # positions many times finer: the continuous limit the paper computes
    for pair, units in case["units"].items():
        units = _pair_units(units)
        exact = unitizing_alpha(units, begin=0, length=length)
        _close(exact["categories"]["x"]["D_o"], exp["Do"][pair], tol["Do"])
        fine = unitizing_alpha([(s * stretch, n * stretch, g, c) for s, n, g, c in units],
                               begin=0, length=length * stretch)
        _close(fine["alpha"], exp["alpha_continuous_limit"][pair], tol["alpha_continuous_limit"])


def test_digitized_agreement_1995(cases):
    """The per-position kappa/pi/alpha of NVivo's coding comparison, on the 1995 pairs."""
    case = cases["krippendorff1995_p57_unitizing_4pairs"]
    exp, tol = case["expected"]["digitized_24_positions"], case["tolerance"]["digitized"]
    length = case["continuum"]["length"]
    for pair, (first, second) in case["units"].items():
        a = [Span("doc", s, s + n, "x") for s, n in first]
        b = [Span("doc", s, s + n, "x") for s, n in second]
        entry = character_agreement(a, b, {"doc": length})["x"]["all_documents"]["all_text"]
        if pair not in exp:  # pair D: both coded every position, so kappa is undefined
            assert entry["cohen_kappa"]["value"] is None or math.isnan(entry["cohen_kappa"]["value"])
            continue
        _close(entry["cohen_kappa"]["value"], exp[pair]["cohen_kappa"], tol)
        _close(entry["scott_pi"], exp[pair]["scott_pi"], tol)
        if "krippendorff_alpha_nominal" in exp[pair]:
            _close(entry["krippendorff_alpha"], exp[pair]["krippendorff_alpha_nominal"], tol)


def test_shrout_fleiss_icc(cases):
    case = cases["shrout_fleiss1979_table2_icc"]
    got = icc(case["data"])
    for key, want in case["expected"].items():
        _close(got[key], want, case["tolerance"])
