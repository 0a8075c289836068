"""What a reader of an agreement report relies on: coders compared like with like when one of them
(a model) gives parent codes directly, intervals that never pretend to certainty, a formula beside
every coefficient, code labels beside ids, and two exports of one project matched by text."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from corpus.codebook_files import load_codebooks
from corpus.refi import write_qdpx
from eval.agreement_io import Codings, read_codings
from eval.agreement_render import render_html, render_table
from eval.agreement_report import agreement_report
from service.cli import app

LEAF, PARENT = "npt.coherence.differentiation", "npt.coherence"
OTHER = "npt.cognitive_participation.enrolment"


@pytest.fixture(scope="module")
def npt():
    return load_codebooks("npt")


def model_adds_parents() -> Codings:
    """A person codes leaves; the model codes the same leaves and also gives the parent code
    directly on its own, on units where no sub-code passed its threshold."""
    human = {f"u{i}": ({LEAF} if i < 6 else {OTHER} if i < 12 else set()) for i in range(20)}
    model = {u: set(codes) for u, codes in human.items()}
    for i in range(12, 17):
        model[f"u{i}"].add(PARENT)
    for i in range(6):
        model[f"u{i}"].add(PARENT)
    return Codings({"ana": human, "model": model})


def test_human_vs_model_like_with_like(npt):
    codings = model_adds_parents()
    as_given = agreement_report(codings, codebook=npt, n_boot=0)
    derived = agreement_report(codings, codebook=npt, n_boot=0, hierarchy="derived")
    leaves = agreement_report(codings, codebook=npt, n_boot=0, hierarchy="leaves")
    kappa = {name: r["overall"]["cohen_kappa"]["value"]
             for name, r in (("as_given", as_given), ("derived", derived), ("leaves", leaves))}
    # as given, the parent the person never gave directly pulls the mean down
    assert as_given["per_code"][PARENT]["cohen_kappa"]["value"] < 0.5
    assert kappa["as_given"] < kappa["derived"]
    # derived: the parent is present exactly where a sub-code is, for both coders alike
    assert derived["per_code"][PARENT]["cohen_kappa"]["value"] == pytest.approx(1.0)
    assert kappa["derived"] == pytest.approx(1.0) and kappa["leaves"] == pytest.approx(1.0)
    assert PARENT not in leaves["per_code"]
    for report, word in ((as_given, "as each coder gave"), (derived, "derived"),
                         (leaves, "leaf codes only")):
        assert word in report["hierarchy_note"]
        assert word in render_table(report)


def test_hierarchy_needs_a_codebook():
    with pytest.raises(ValueError, match="codebook"):
        agreement_report(model_adds_parents(), hierarchy="derived", n_boot=0)
    with pytest.raises(ValueError, match="--hierarchy"):
        agreement_report(model_adds_parents(), hierarchy="parents", n_boot=0)


def test_intervals_never_collapse_to_a_point():
    two = Codings({"A": {"u1": {"x"}, "u2": set()}, "B": {"u1": {"x"}, "u2": set()}})
    r = agreement_report(two, n_boot=200)
    alpha = r["per_code"]["x"]["krippendorff_alpha"]
    kappa = r["per_code"]["x"]["cohen_kappa"]
    assert alpha["value"] == pytest.approx(1.0)
    assert alpha["ci"] is None and "too few units" in alpha["ci_note"]
    assert kappa["ci"] is None and "too few units" in kappa["ci_note"]
    table = render_table(r)
    assert "[1.000, 1.000]" not in table and "too few units" in table
    assert "percentile bootstrap over units (200 resamples, seed 0" in table
    # many units, all agreeing: every resample gives 1, still no point "interval"
    many = Codings({c: {f"u{i}": {"x"} if i % 3 else set() for i in range(30)} for c in "AB"})
    r = agreement_report(many, n_boot=200)
    alpha = r["per_code"]["x"]["krippendorff_alpha"]
    assert alpha["ci"] is None and "same value" in alpha["ci_note"]
    # and where there is spread, an interval around the value
    mixed = Codings({"A": {f"u{i}": {"x"} if i % 3 else set() for i in range(30)},
                     "B": {f"u{i}": {"x"} if i % 4 else set() for i in range(30)}})
    alpha = agreement_report(mixed, n_boot=200)["per_code"]["x"]["krippendorff_alpha"]
    assert alpha["ci"][0] < alpha["value"] < alpha["ci"][1]


def test_formula_and_label_beside_every_figure(npt):
    codings = model_adds_parents()
    r = agreement_report(codings, codebook=npt, n_boot=0)
    assert r["per_code"][LEAF]["label"] == "Differentiation"
    assert r["rollup"]["npt.cognitive_participation"]["label"] == "Cognitive participation"
    assert r["labels"][PARENT] == "Coherence"
    assert "Gwet" in r["formulas"]["fleiss_kappa"] and "1/q" in r["formulas"]["brennan_prediger"]
    for text in (render_table(r), render_html(r)):
        assert f"Differentiation ({LEAF})" in text
        assert "mean over units of r_ik / r_i" in text  # Fleiss' kappa with missing ratings
    three = Codings({c: {f"u{i}": {"x"} if (i + k) % 3 else set() for i in range(12)}
                     for k, c in enumerate("ABC")})
    r = agreement_report(three, n_boot=0)
    assert {"conger_kappa", "light_kappa"} <= set(r["overall"]) <= set(r["formulas"]) | {
        "n_codes", "interpretation", "krippendorff_alpha_pooled"}


def test_nominal_report_gives_category_kappa():
    a = ["x", "x", "y", "y", "z", "x", "y", "z", "z", "x"]
    b = ["x", "y", "y", "y", "z", "x", "x", "z", "y", "x"]
    codings = Codings({"A": {f"u{i}": {v} for i, v in enumerate(a)},
                       "B": {f"u{i}": {v} for i, v in enumerate(b)}})
    r = agreement_report(codings, mode="nominal", n_boot=0)
    per = r["overall"]["category_kappa"]
    assert set(per) == {"x", "y", "z"} and all(-1 <= v <= 1 for v in per.values())
    assert "Fleiss (1971) per-category" in r["formulas"]["category_kappa"]


TEXT = ("Interviewer: How did the new rota work?\nNurse: At first nobody understood it. "
        "Then we met every Monday and it made sense.\nInterviewer: And now?\nNurse: Fine.\n")


def _export(path, name, user, spans, npt):
    return write_qdpx(path, codebook=npt, documents=[(name, TEXT)],
                      codings=[{"document": name, "start": s, "end": e, "codes": [code],
                                "user": user} for s, e, code in spans])


def test_two_exports_matched_by_text(tmp_path, npt):
    first = _export(tmp_path / "site_a.qdpx", "interview 1", "Ana",
                    [(41, 76, LEAF), (77, 119, OTHER)], npt)
    second = _export(tmp_path / "site_b.qdpx", "Interview_01 (renamed)", "Ben",
                     [(48, 76, LEAF), (77, 110, OTHER)], npt)
    codings = read_codings([first, second])
    assert set(codings.lengths) == {"interview 1"}  # one document, named as first seen
    assert codings.lengths["interview 1"] == len(TEXT)  # its true length, not the last end
    assert {s.document for spans in codings.spans.values() for s in spans} == {"interview 1"}
    assert codings.labels[LEAF] == "Differentiation"
    result = CliRunner().invoke(app, ["agree", str(first), str(second), "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["kind"] == "spans" and report["coders"] == ["Ana", "Ben"]
    assert report["documents"] == {"interview 1": len(TEXT)}
    assert 0 < report["u_alpha"]["alpha"] < 1
    assert report["labels"][LEAF] == "Differentiation"
    x = report["pairs"]["Ana|Ben"]["character"][LEAF]["all_documents"]
    assert x["both"] == 28 and x["only_a"] == 7 and x["only_b"] == 0
    assert x["neither"] == len(TEXT) - 35
    table = CliRunner().invoke(app, ["agree", str(first), str(second)])
    assert f"Differentiation ({LEAF})" in table.stdout and "Unitizing alpha" in table.stdout


def test_two_nvivo_exports_of_one_project(reference_data):
    folder = reference_data / "refi_exports" / "nvivo_win_12.6"
    codings = read_codings([folder / "oltas.qdpx", folder / "oltas0517.qdpx"])
    # videos_selection is in both exports (new GUIDs, same text): one document, read at its
    # true length; oltas0517 adds videos_10_selected, coded by Gergo only
    assert set(codings.lengths) == {"videos_selection", "videos_10_selected"}
    assert codings.known_lengths == set(codings.lengths)
    ends = {}
    by_doc = {}
    for coder, spans in codings.spans.items():
        for s in spans:
            by_doc.setdefault(s.document, set()).add(coder)
            ends[s.document] = max(ends.get(s.document, 0), s.end)
    assert by_doc == {"videos_selection": {"floriansipos"}, "videos_10_selected": {"Gergo"}}
    assert all(codings.lengths[d] > ends[d] for d in ends)
    report = agreement_report(codings, n_boot=0)
    assert report["n_units_compared"] == 0
    assert any("--unit character" in w for w in report["warnings"])
