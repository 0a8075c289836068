"""Agreement between coders who segmented the text differently.

Two views, each for every pair of coders and every code:

**Character level**, as NVivo's *coding comparison*. Each character of a document is coded or not
coded with the code by each coder, and Cohen's kappa and the percent agreement are computed over
characters. Two versions, labelled in the report:

- ``all_text``: over *all* characters of the document (NVivo's figures). Text neither coder
  coded counts as agreement, so with sparse codes the agreement is high whatever happens.
- ``excluding_uncoded_text``: over only the characters at least one of the two coded with the
  code. The percent agreement is then the overlap of the two codings (shared characters / all
  characters either coded, the Jaccard index); kappa is usually near or below zero here, because
  the "neither" cell is empty by construction (a kappa paradox), so read the percentage.

``documents`` gives each document where either coder used the code; ``all_documents`` pools the
characters of every document in ``lengths`` (NVivo's average over sources weighted by their
size, computed directly). Both coders are assumed to have read every document in ``lengths``;
a document's length is its true length when known, else the furthest end any coder coded.

**Segment level**, as MAXQDA's intercoder agreement on coded segments. A segment (a span with one
code) of one coder *agrees* when the other coder put the same code on a segment of the same
document that overlaps it by at least ``min_overlap`` of the area the two segments cover
together (overlap / union; MAXQDA's default is 90%). Every segment of both coders is checked, so
``agreements`` counts matched segments of either coder and ``disagreements`` unmatched ones;
``percent_agreement = agreements / (agreements + disagreements)``. The kappa MAXQDA gives for
this table is Brennan & Prediger's, with chance agreement ``1 / q`` for the ``q`` codes
compared (the cell "neither coder coded it" does not exist for free segmentation):
``kappa = (p_o - 1/q) / (1 - 1/q)``, reported for all codes together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import combinations

import numpy as np

from corpus.errors import PrecodeInputError
from eval.agreement import cohen_kappa
from eval.agreement_io import Span
from eval.agreement_report import jsonable

__all__ = ["character_agreement", "overlap_share", "segment_agreement", "span_report"]

DEFAULT_MIN_OVERLAP = 0.9
DEFINITIONS = {
    "all_text": "character level over all characters of the documents (NVivo coding "
                "comparison): uncoded text both left uncoded counts as agreement",
    "excluding_uncoded_text": "character level over only the characters at least one coder "
                              "coded with the code: percent agreement = overlap / union",
    "segments": "segment level (MAXQDA): a segment agrees when the other coder gave the same "
                "code to a segment overlapping it by at least min_overlap of their union; "
                "kappa = Brennan & Prediger with chance 1/number of codes",
}


def span_report(spans: Mapping[str, Iterable[Span]], lengths: Mapping[str, int], *,
                min_overlap: float = DEFAULT_MIN_OVERLAP) -> dict:
    """Character- and segment-level agreement for every pair of coders (JSON-ready)."""
    spans = {coder: list(s) for coder, s in spans.items()}
    if len(spans) < 2:
        raise PrecodeInputError(f"span agreement needs coded spans from at least two coders, "
                                f"found {len(spans)} ({', '.join(spans) or 'none'}): give "
                                "coded excerpts with document, start and end, or precode JSONL",
                                field="--unit")
    pairs = {f"{a}|{b}": {"character": character_agreement(spans[a], spans[b], lengths),
                          "segments": segment_agreement(spans[a], spans[b],
                                                        min_overlap=min_overlap)}
             for a, b in combinations(spans, 2)}
    return jsonable({"kind": "spans", "coders": list(spans), "n_coders": len(spans),
                     "documents": dict(lengths), "min_overlap": min_overlap,
                     "definitions": DEFINITIONS, "pairs": pairs, "warnings": []})


def character_agreement(a: Iterable[Span], b: Iterable[Span], lengths: Mapping[str, int]) -> dict:
    """``{code: {"documents": {document: entry}, "all_documents": entry}}`` for two coders.

    An entry holds the character counts ``both``, ``only_a``, ``only_b``, ``neither`` and, under
    ``all_text`` and ``excluding_uncoded_text``, ``n_characters``, ``percent_agreement`` and
    ``cohen_kappa`` ({value, se, ci}).
    """
    masks_a, masks_b = _masks(a, lengths), _masks(b, lengths)
    out = {}
    for code in sorted(masks_a.keys() | masks_b.keys()):
        pooled_a, pooled_b, documents = [], [], {}
        for document, length in lengths.items():
            x = masks_a[code].get(document, np.zeros(length, dtype=bool))
            y = masks_b[code].get(document, np.zeros(length, dtype=bool))
            if x.any() or y.any():
                documents[document] = _character_entry(x, y)
            pooled_a.append(x)
            pooled_b.append(y)
        out[code] = {"documents": documents,
                     "all_documents": _character_entry(np.concatenate(pooled_a),
                                                       np.concatenate(pooled_b))}
    return out


def segment_agreement(a: Iterable[Span], b: Iterable[Span], *,
                      min_overlap: float = DEFAULT_MIN_OVERLAP) -> dict:
    """``{"codes": {code: counts}, "total": counts + kappa}`` (see the module docstring)."""
    if not 0 < min_overlap <= 1:
        raise PrecodeInputError(f"must lie in (0, 1], got {min_overlap}", field="--min-overlap")
    a, b = list(a), list(b)
    by_a, by_b = _index(a), _index(b)
    codes = sorted({s.code for s in a} | {s.code for s in b})
    per_code = {}
    for code in codes:
        mine = [s for s in a if s.code == code]
        theirs = [s for s in b if s.code == code]
        matched_a = sum(_matched(s, by_b, min_overlap) for s in mine)
        matched_b = sum(_matched(s, by_a, min_overlap) for s in theirs)
        per_code[code] = _segment_counts(len(mine), len(theirs), matched_a, matched_b)
    total = _segment_counts(*(sum(c[k] for c in per_code.values()) for k in
                              ("a_segments", "b_segments", "a_matched", "b_matched")))
    q = len(codes)
    po = total["percent_agreement"]
    total["n_codes"] = q
    total["kappa"] = (po - 1 / q) / (1 - 1 / q) if q > 1 and not math.isnan(po) else math.nan
    return {"codes": per_code, "total": total}


def overlap_share(s: Span, t: Span) -> float:
    """Characters two spans share / characters they cover together (0 if disjoint)."""
    if s.document != t.document:
        return 0.0
    inter = min(s.end, t.end) - max(s.start, t.start)
    union = max(s.end, t.end) - min(s.start, t.start)
    if union == 0:  # two empty spans
        return float(s.start == t.start)
    return max(inter, 0) / union


# --------------------------------------------------------------------------- helpers


def _masks(spans: Iterable[Span], lengths: Mapping[str, int]) -> dict[str, dict[str, np.ndarray]]:
    """``{code: {document: bool array over the document's characters}}``."""
    masks: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for s in spans:
        if s.document not in lengths:
            raise PrecodeInputError(f"document {s.document!r} has no known length",
                                    field="document")
        if not 0 <= s.start <= s.end <= lengths[s.document]:
            raise PrecodeInputError(f"span {s.start}:{s.end} lies outside the document "
                                    f"({lengths[s.document]} characters)", field=s.document)
        mask = masks[s.code].setdefault(s.document, np.zeros(lengths[s.document], dtype=bool))
        mask[s.start:s.end] = True
    return masks


def _kappa_block(x: np.ndarray, y: np.ndarray) -> dict:
    k = cohen_kappa(x.astype(int).tolist(), y.astype(int).tolist())
    return {"n_characters": int(len(x)), "percent_agreement": k.po,
            "cohen_kappa": {"value": k.value, "se": k.se, "ci": list(k.ci)}}


def _character_entry(x: np.ndarray, y: np.ndarray) -> dict:
    coded = x | y
    return {"both": int((x & y).sum()), "only_a": int((x & ~y).sum()),
            "only_b": int((~x & y).sum()), "neither": int((~coded).sum()),
            "all_text": _kappa_block(x, y),
            "excluding_uncoded_text": _kappa_block(x[coded], y[coded])}


def _index(spans: list[Span]) -> dict[tuple[str, str], list[Span]]:
    index: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for s in spans:
        index[(s.document, s.code)].append(s)
    return index


def _matched(s: Span, others: Mapping[tuple[str, str], list[Span]], min_overlap: float) -> bool:
    return any(overlap_share(s, t) >= min_overlap - 1e-12
               for t in others.get((s.document, s.code), ()))


def _segment_counts(a_segments: int, b_segments: int, a_matched: int, b_matched: int) -> dict:
    agreements = a_matched + b_matched
    total = a_segments + b_segments
    return {"a_segments": a_segments, "b_segments": b_segments, "a_matched": a_matched,
            "b_matched": b_matched, "agreements": agreements,
            "disagreements": total - agreements,
            "percent_agreement": agreements / total if total else math.nan}
