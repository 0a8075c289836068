"""The agreement report: its shape, that it uses eval.agreement's statistics faithfully, its
warnings and roll-up, and the figures for the ci_claims human baseline."""

from __future__ import annotations

import csv
import json

import pytest

from corpus.errors import PrecodeInputError
from eval.agreement import cohen_kappa, krippendorff_alpha, multilabel_to_binary
from eval.agreement_io import Codings, read_ci_claims_annotators
from eval.agreement_report import agreement_report, find_disagreements
from tests.eval.conftest import kappa_by_hand

# Two coders, ten units, one code each: they agree on 8 (a:4, b:3, c:1).
A = list("aaaabbbcab")
B = list("aaaabbbcba")


def nominal_codings(a=A, b=B) -> Codings:
    return Codings({"A": {f"u{i}": {x} for i, x in enumerate(a)},
                    "B": {f"u{i}": {x} for i, x in enumerate(b)}},
                   texts={f"u{i}": f"text <{i}>" for i in range(len(a))})


def test_nominal_two_coders():
    r = agreement_report(nominal_codings(), mode="nominal", n_boot=200)
    assert (r["n_units"], r["n_coders"], r["coders"], r["mode"]) == (10, 2, ["A", "B"], "nominal")
    o = r["overall"]
    expected = cohen_kappa(A, B)
    assert o["percent_agreement"] == pytest.approx(0.8)
    assert o["cohen_kappa"]["value"] == pytest.approx(expected.value)
    assert o["cohen_kappa"]["se"] == pytest.approx(expected.se)
    assert o["cohen_kappa"]["ci"] == pytest.approx(list(expected.ci))
    assert o["krippendorff_alpha"]["value"] == pytest.approx(
        krippendorff_alpha([[x, y] for x, y in zip(A, B, strict=True)]))
    lo, hi = o["krippendorff_alpha"]["ci"]
    assert lo <= o["krippendorff_alpha"]["value"] <= hi
    for key in ("scott_pi", "fleiss_kappa", "brennan_prediger", "gwet_ac1"):
        assert -1 <= o[key] <= 1
    assert o["n_categories"] == 3
    assert o["interpretation"]["krippendorff_alpha"] in ("reliable", "tentative", "unreliable")
    assert r["confusion"] == {"rows": "A", "columns": "B", "labels": ["a", "b", "c"],
                              "counts": [[4, 1, 0], [1, 3, 0], [0, 0, 1]]}
    assert r["pairs"]["A|B"]["cohen_kappa"]["value"] == pytest.approx(expected.value)
    # per code = category against the rest; c has 2 positive decisions: a warning
    assert r["per_code"]["c"]["n_positive"] == 2 and "warning" in r["per_code"]["c"]
    assert "warning" not in r["per_code"]["a"]
    assert any("'c'" in w for w in r["warnings"])
    assert r["interpretation"]["kappa"].startswith("Landis & Koch")
    json.dumps(r, allow_nan=False)


def test_same_seed_same_intervals():
    one = agreement_report(nominal_codings(), mode="nominal", n_boot=100, seed=3)
    two = agreement_report(nominal_codings(), mode="nominal", n_boot=100, seed=3)
    assert one == two
    assert agreement_report(nominal_codings(), mode="nominal", n_boot=0)["overall"][
        "krippendorff_alpha"]["ci"] is None


def test_multilabel_per_code_mean_and_pooled():
    codings = Codings({
        "A": {"u1": {"x", "y"}, "u2": {"x"}, "u3": set(), "u4": {"y"}, "u5": {"x"}},
        "B": {"u1": {"x"}, "u2": {"x"}, "u3": {"y"}, "u4": {"y"}},  # never saw u5
    })
    r = agreement_report(codings, n_boot=50)
    assert r["n_units"] == 5 and r["n_units_compared"] == 4
    assert any("only one coder" in w for w in r["warnings"])
    matrices = multilabel_to_binary(codings, ["x", "y"])
    for code in ("x", "y"):
        a, b = zip(*matrices[code], strict=True)
        assert r["per_code"][code]["cohen_kappa"]["value"] == pytest.approx(
            cohen_kappa(a, b).value, nan_ok=True)
        assert r["per_code"][code]["n_units"] == 4
    assert r["per_code"]["x"]["n_positive"] == 5
    assert r["per_code"]["x"]["prevalence"] == pytest.approx(5 / 9)
    o = r["overall"]
    assert o["n_codes"] == 2
    assert o["percent_agreement"] == pytest.approx(
        (r["per_code"]["x"]["percent_agreement"] + r["per_code"]["y"]["percent_agreement"]) / 2)
    assert o["cohen_kappa"]["se"] is None  # a mean of kappas has no normal interval
    pooled = krippendorff_alpha(matrices["x"] + matrices["y"])
    assert o["krippendorff_alpha_pooled"]["value"] == pytest.approx(pooled)
    # five units: no interval rather than one that pretends to know the spread
    assert o["krippendorff_alpha_pooled"]["ci"] is None
    assert "too few units" in o["krippendorff_alpha_pooled"]["ci_note"]


def test_undefined_becomes_null():
    # both coders gave x to every unit: kappa and alpha for x are 0/0
    codings = Codings({"A": {f"u{i}": {"x"} for i in range(6)},
                       "B": {f"u{i}": {"x"} for i in range(6)}})
    r = agreement_report(codings, n_boot=20)
    x = r["per_code"]["x"]
    assert x["percent_agreement"] == 1.0
    assert x["cohen_kappa"]["value"] is None and x["krippendorff_alpha"]["value"] is None
    assert x["interpretation"]["cohen_kappa"] == "n/a"
    json.dumps(r, allow_nan=False)


def test_three_coders_and_pairs():
    codings = Codings({"A": {"u1": {"x"}, "u2": {"y"}, "u3": {"x"}},
                       "B": {"u1": {"x"}, "u2": {"y"}, "u3": {"y"}},
                       "model": {"u1": {"x"}, "u2": {"x"}, "u3": {"x"}}})
    r = agreement_report(codings, mode="nominal", n_boot=0)
    assert "cohen_kappa" not in r["overall"] and "scott_pi" not in r["overall"]
    assert "fleiss_kappa" in r["overall"] and "confusion" not in r
    assert list(r["pairs"]) == ["A|B", "A|model", "B|model"]
    assert r["pairs"]["A|model"]["percent_agreement"] == pytest.approx(2 / 3)


def test_rollup_with_codebook(npt_integrating):
    parent = npt_integrating["npt.coherence.differentiation"].parent
    assert parent is not None
    codings = Codings({"A": {"u1": {"npt.coherence.differentiation"}, "u2": set()},
                       "B": {"u1": {parent}, "u2": set()}})
    r = agreement_report(codings, codebook=npt_integrating, n_boot=0)
    assert r["per_code"]["npt.coherence.differentiation"]["percent_agreement"] == 0.5
    assert r["rollup"][parent]["percent_agreement"] == 1.0  # the construct is present for both
    assert set(npt_integrating.ancestors("npt.coherence.differentiation")) <= set(r["rollup"])


def test_levels():
    codings = Codings({"A": {f"u{i}": {v} for i, v in enumerate("12345")},
                       "B": {f"u{i}": {v} for i, v in enumerate("12355")}})
    nominal = agreement_report(codings, mode="nominal", n_boot=0)
    interval = agreement_report(codings, mode="nominal", level="interval", n_boot=0)
    ordered = [[float(a), float(b)] for a, b in zip("12345", "12355", strict=True)]
    assert interval["overall"]["krippendorff_alpha"]["value"] == pytest.approx(
        krippendorff_alpha(ordered, level="interval"))
    assert interval["overall"]["krippendorff_alpha"]["value"] > \
        nominal["overall"]["krippendorff_alpha"]["value"]  # a near miss counts less
    with pytest.raises(PrecodeInputError, match=r"--level.*numeric codes, got 'a'"):
        agreement_report(nominal_codings(), mode="nominal", level="interval", n_boot=0)
    ordinal = agreement_report(nominal_codings(), mode="nominal", level="ordinal", n_boot=0)
    assert any("alphabetically" in w for w in ordinal["warnings"])


def test_bad_arguments():
    with pytest.raises(PrecodeInputError, match=r"--mode: unknown mode 'both'"):
        agreement_report(nominal_codings(), mode="both")
    with pytest.raises(PrecodeInputError, match=r"--level"):
        agreement_report(nominal_codings(), level="fuzzy")
    with pytest.raises(PrecodeInputError, match="at least two coders, found 1"):
        agreement_report({"A": {"u1": {"x"}}})
    with pytest.raises(PrecodeInputError, match="exactly one code per unit"):
        agreement_report({"A": {"u1": {"x", "y"}}, "B": {"u1": {"x"}}}, mode="nominal")


def test_find_disagreements():
    found = find_disagreements(nominal_codings())
    assert [d["unit"] for d in found] == ["u8", "u9"]
    assert found[0] == {"unit": "u8", "text": "text <8>", "codes": {"A": ["a"], "B": ["b"]}}
    partial = find_disagreements({"A": {"u1": {"x"}}, "B": {"u2": {"y"}}})
    assert partial == []  # no unit seen by both


def test_human_baseline_from_annotation_sheets(annotation_sheets):
    """The ci_claims baseline's computation on two typed sheets: 10 claims, 8 agreed; one
    disagreement crosses themes (C106), one stays within a theme (C108)."""
    codings = read_ci_claims_annotators(annotation_sheets.folder)
    r = agreement_report(codings, mode="nominal", codebook=annotation_sheets.theme_of, n_boot=200)
    o = r["overall"]
    one, two = annotation_sheets.codes.values()
    assert (r["n_units"], r["coders"]) == (10, ["human_annotator_1", "human_annotator_2"])
    assert o["percent_agreement"] == pytest.approx(0.8)
    assert o["cohen_kappa"]["value"] == pytest.approx(kappa_by_hand(one, two))
    lo, hi = o["cohen_kappa"]["ci"]
    assert lo < o["cohen_kappa"]["value"] < hi
    assert o["n_categories"] == 8
    assert r["confusion"]["labels"] == sorted(set(one) | set(two))
    # theme level: only the cross-theme disagreement is left
    assert set(r["rollup"]) == set(annotation_sheets.theme_of.values())
    assert r["rollup"]["SOFTWARE PROCESS"]["percent_agreement"] == 1.0
    assert r["rollup"]["BUILD PATTERNS"]["percent_agreement"] == pytest.approx(0.9)
    assert r["rollup"]["DEVELOPMENT ACTIVITIES"]["percent_agreement"] == pytest.approx(0.9)
    found = find_disagreements(codings)
    assert [d["unit"] for d in found] == ["C106", "C108"]
    assert found[1] == {"unit": "C108", "text": "MONEY, TIME AND SKILLS ARE NEEDED",
                        "codes": {"human_annotator_1": ["ORGANIZATIONAL CHALLENGES"],
                                  "human_annotator_2": ["TECHNICAL CHALLENGES"]}}
    json.dumps(r, allow_nan=False)


def test_ci_claims_human_baseline(reference_data):
    """Two independent annotators, 113 claims, one of 31 codes each (README_data.md).

    Figures (seed 0): they agree on 107 of 113 claims (94.7%); Cohen's kappa .944 (95% CI .901
    to .988), Krippendorff's alpha .945; at theme level (the taxonomy's 6 themes) all six
    constructs have kappa >= .97. Almost perfect (Landis & Koch) and reliable (Krippendorff).
    """
    ci_claims = reference_data / "ci_claims"
    codings = read_ci_claims_annotators(ci_claims)
    with (ci_claims / "taxonomy_difficulty.csv").open(encoding="utf-8") as fh:
        theme_of = {row["gt_code"]: row["theme"] for row in csv.DictReader(fh)}
    r = agreement_report(codings, mode="nominal", codebook=theme_of, n_boot=200)
    o = r["overall"]
    assert r["n_units"] == 113
    assert o["percent_agreement"] == pytest.approx(107 / 113)
    assert o["cohen_kappa"]["value"] == pytest.approx(0.944, abs=0.001)
    assert o["cohen_kappa"]["ci"] == pytest.approx([0.901, 0.988], abs=0.001)
    assert o["krippendorff_alpha"]["value"] == pytest.approx(0.945, abs=0.001)
    assert 0.85 < o["krippendorff_alpha"]["ci"][0] < 0.945 < o["krippendorff_alpha"]["ci"][1]
    assert o["interpretation"]["cohen_kappa"] == "almost perfect"
    assert o["interpretation"]["krippendorff_alpha"] == "reliable"
    assert o["n_categories"] == 31
    assert len(r["rollup"]) == 6
    assert all(t["cohen_kappa"]["value"] >= 0.97 for t in r["rollup"].values())
    assert len(find_disagreements(codings)) == 6
