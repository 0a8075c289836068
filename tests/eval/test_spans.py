"""Span agreement: character level (NVivo) and segment overlap (MAXQDA), on hand-worked
examples."""

from __future__ import annotations

import json

import pytest

from corpus.errors import PrecodeInputError
from eval.agreement_io import Span, read_codings
from eval.spans import character_agreement, overlap_share, segment_agreement, span_report


def test_character_level_hand_worked():
    # 20 characters; A codes 0-9, B codes 0-7. Cells: both 8, only A 2, only B 0, neither 10.
    # All text: p_o = 18/20 = .9; p_A = .5, p_B = .4, p_e = .5*.4 + .5*.6 = .5;
    #   kappa = (.9 - .5) / (1 - .5) = .8.
    # Excluding uncoded text (the 10 characters either coded): p_o = 8/10 = .8; A coded all 10
    #   and B 8, p_e = 1*.8 + 0*.2 = .8, kappa = 0.
    result = character_agreement([Span("d", 0, 10, "x")], [Span("d", 0, 8, "x")], {"d": 20})
    e = result["x"]["documents"]["d"]
    assert (e["both"], e["only_a"], e["only_b"], e["neither"]) == (8, 2, 0, 10)
    assert e["all_text"]["n_characters"] == 20
    assert e["all_text"]["percent_agreement"] == pytest.approx(0.9)
    assert e["all_text"]["cohen_kappa"]["value"] == pytest.approx(0.8)
    assert e["excluding_uncoded_text"]["n_characters"] == 10
    assert e["excluding_uncoded_text"]["percent_agreement"] == pytest.approx(0.8)
    assert e["excluding_uncoded_text"]["cohen_kappa"]["value"] == pytest.approx(0.0)
    assert result["x"]["all_documents"]["all_text"] == e["all_text"]


def test_character_level_half_overlap_and_pooling():
    # A codes 0-9, B 5-14 of 20: every cell is 5, p_o = .5 = p_e, kappa 0.
    a, b = [Span("d", 0, 10, "x")], [Span("d", 5, 15, "x")]
    e = character_agreement(a, b, {"d": 20, "other": 80})["x"]
    assert e["documents"]["d"]["all_text"]["cohen_kappa"]["value"] == pytest.approx(0.0)
    assert "other" not in e["documents"]  # neither coded x there
    pooled = e["all_documents"]  # 100 characters: both 5, only A 5, only B 5, neither 85
    assert (pooled["both"], pooled["neither"]) == (5, 85)
    assert pooled["all_text"]["percent_agreement"] == pytest.approx(0.9)
    # p_e = .1*.1 + .9*.9 = .82, kappa = (.9 - .82) / .18
    assert pooled["all_text"]["cohen_kappa"]["value"] == pytest.approx(0.08 / 0.18)
    assert pooled["excluding_uncoded_text"]["percent_agreement"] == pytest.approx(5 / 15)


def test_overlap_share():
    assert overlap_share(Span("d", 0, 10, "x"), Span("d", 0, 8, "x")) == pytest.approx(0.8)
    assert overlap_share(Span("d", 0, 10, "x"), Span("d", 10, 20, "x")) == 0.0
    assert overlap_share(Span("d", 0, 10, "x"), Span("e", 0, 10, "x")) == 0.0
    assert overlap_share(Span("d", 2, 12, "x"), Span("d", 0, 10, "x")) == pytest.approx(8 / 12)


def test_segment_level_like_maxqda():
    a = [Span("d", 0, 10, "x"), Span("d", 12, 18, "y"), Span("d", 30, 40, "y")]
    b = [Span("d", 0, 8, "x"), Span("d", 12, 18, "y")]
    strict = segment_agreement(a, b)  # x overlaps by 8/10 of the union < .9: no match
    assert strict["codes"]["x"] == {"a_segments": 1, "b_segments": 1, "a_matched": 0,
                                    "b_matched": 0, "agreements": 0, "disagreements": 2,
                                    "percent_agreement": 0.0}
    assert strict["codes"]["y"]["agreements"] == 2 and strict["codes"]["y"]["disagreements"] == 1
    # total 2 agreements of 5 segments; kappa = (.4 - 1/2) / (1 - 1/2) = -.2 with 2 codes
    assert strict["total"]["percent_agreement"] == pytest.approx(0.4)
    assert strict["total"]["kappa"] == pytest.approx(-0.2)
    loose = segment_agreement(a, b, min_overlap=0.8)
    assert loose["codes"]["x"]["agreements"] == 2
    assert loose["total"]["percent_agreement"] == pytest.approx(0.8)
    assert loose["total"]["kappa"] == pytest.approx(0.6)


def test_span_report_from_files(tmp_path):
    (tmp_path / "ann.csv").write_text("id,text,codes,document,start,end\n"
                                      "s1,Some text,x,int1,0,10\ns2,More text,y,int1,12,18\n",
                                      encoding="utf-8")
    (tmp_path / "out.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"document": "int1", "segment_id": "s1", "start": 0, "end": 10, "speaker": "P",
         "text": "Some text", "suggestions": [{"code": "x", "confidence": 0.9}]},
        {"document": "int1", "segment_id": "s3", "start": 11, "end": 30, "speaker": "P",
         "text": "Rest", "suggestions": [{"code": "y", "confidence": 0.7}]}]) + "\n",
        encoding="utf-8")
    c = read_codings([tmp_path / "ann.csv", tmp_path / "out.jsonl"])
    report = span_report(c.spans, c.lengths)
    assert report["coders"] == ["ann", "model"] and report["documents"] == {"int1": 30}
    pair = report["pairs"]["ann|model"]
    x = pair["character"]["x"]["documents"]["int1"]["all_text"]
    assert x["percent_agreement"] == 1.0 and x["cohen_kappa"]["value"] == pytest.approx(1.0)
    assert pair["segments"]["codes"]["x"]["agreements"] == 2
    assert pair["segments"]["codes"]["y"]["disagreements"] == 2  # 6 of 19 chars: no match
    json.dumps(report, allow_nan=False)  # NaN became null


def test_span_errors():
    with pytest.raises(PrecodeInputError, match="at least two coders"):
        span_report({"A": [Span("d", 0, 1, "x")]}, {"d": 5})
    with pytest.raises(PrecodeInputError, match=r"--min-overlap"):
        segment_agreement([], [], min_overlap=0)
    with pytest.raises(PrecodeInputError, match="outside the document"):
        character_agreement([Span("d", 0, 9, "x")], [], {"d": 5})
    with pytest.raises(PrecodeInputError, match="no known length"):
        character_agreement([Span("e", 0, 1, "x")], [], {"d": 5})
