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
from eval.agreement import MIN_UNITS_FOR_CI, cohen_kappa_table
from eval.agreement_io import Span
from eval.agreement_report import jsonable
from eval.unitizing import spans_unitizing_alpha

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
    "u_alpha": "Krippendorff's unitizing alpha (2004, pp. 251-256) over all coders: "
               "disagreement from the positions and lengths of overlapping units and gaps, "
               "chance from all possible placements; documents laid end to end",
    "per_position": "all_text also gives Scott's pi and Krippendorff's alpha over characters "
                    "(each character a unit coded 1/0, the digitized agreement of "
                    "Krippendorff 1995)",
}


def span_report(spans: Mapping[str, Iterable[Span]], lengths: Mapping[str, int], *,
                min_overlap: float = DEFAULT_MIN_OVERLAP, labels: Mapping[str, str] | None = None,
                estimated: Iterable[str] = ()) -> dict:
    """Character- and segment-level agreement for every pair of coders, and Krippendorff's
    unitizing alpha over all coders (JSON-ready). ``labels``: ``{code id: label}`` shown beside
    the ids; ``estimated``: documents whose length is only the furthest coded end (their text
    was not given), named in a warning."""
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
    warnings = []
    estimated = [d for d in lengths if d in set(estimated)]
    if estimated:
        warnings.append(f"length of {len(estimated)} document(s) unknown ({', '.join(estimated[:5])}"
                        f"{', ...' if len(estimated) > 5 else ''}): taken as the furthest coded "
                        "character, so uncoded text after it is not counted")
    codes = sorted({s.code for items in spans.values() for s in items})
    return jsonable({"kind": "spans", "coders": list(spans), "n_coders": len(spans),
                     "documents": dict(lengths), "min_overlap": min_overlap,
                     "definitions": DEFINITIONS, "pairs": pairs,
                     "u_alpha": spans_unitizing_alpha(spans, lengths),
                     "labels": {c: (labels or {}).get(c, c) for c in codes},
                     "warnings": warnings})


def character_agreement(a: Iterable[Span], b: Iterable[Span], lengths: Mapping[str, int]) -> dict:
    """``{code: {"documents": {document: entry}, "all_documents": entry}}`` for two coders.

    An entry holds the character counts ``both``, ``only_a``, ``only_b``, ``neither`` and, under
    ``all_text`` and ``excluding_uncoded_text``, ``n_characters``, ``percent_agreement`` and
    ``cohen_kappa`` ({value, se, ci}).
    """
    masks_a, masks_b = _masks(a, lengths), _masks(b, lengths)
    out = {}
    for code in sorted(masks_a.keys() | masks_b.keys()):
        total, documents = np.zeros(4, dtype=np.int64), {}
        for document, length in lengths.items():
            x, y = masks_a[code].get(document), masks_b[code].get(document)
            if x is None and y is None:
                total[3] += length  # neither coder used the code in this document
                continue
            x = np.zeros(length, dtype=bool) if x is None else x
            y = np.zeros(length, dtype=bool) if y is None else y
            counts = _counts(x, y)
            documents[document] = _character_entry(*counts)
            total += counts
        out[code] = {"documents": documents, "all_documents": _character_entry(*total)}
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


def _kappa_block(both: int, only_a: int, only_b: int, neither: int) -> dict:
    """Per-position (digitized) agreement: every character is a unit coded 1/0 by each coder,
    computed from the 2x2 counts."""
    n = both + only_a + only_b + neither
    k = cohen_kappa_table([[neither, only_b], [only_a, both]])
    ones = 2 * both + only_a + only_b  # pooled 1s of both coders
    pooled = ones / (2 * n) if n else math.nan
    pe = pooled**2 + (1 - pooled) ** 2
    pi = (k.po - pe) / (1 - pe) if n and pe < 1 - 1e-12 else math.nan
    alpha = (1.0 - (2 * n - 1) * (only_a + only_b) / (ones * (2 * n - ones))
             if 0 < ones < 2 * n else math.nan)
    return {"n_characters": int(n), "percent_agreement": k.po,
            "cohen_kappa": {"value": k.value, "se": k.se, "ci": _ci(k)},
            "scott_pi": pi, "krippendorff_alpha": alpha}


def _ci(k) -> list | None:
    """Cohen's large-sample interval, or none where it would collapse to a point (no variance
    estimate: perfect agreement, or too few characters)."""
    if math.isnan(k.value) or k.se <= 0 or k.n < MIN_UNITS_FOR_CI:
        return None
    return list(k.ci)


def _counts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    both, only_a, only_b = int((x & y).sum()), int((x & ~y).sum()), int((~x & y).sum())
    return np.array([both, only_a, only_b, len(x) - both - only_a - only_b], dtype=np.int64)


def _character_entry(both: int, only_a: int, only_b: int, neither: int) -> dict:
    both, only_a, only_b, neither = int(both), int(only_a), int(only_b), int(neither)
    return {"both": both, "only_a": only_a, "only_b": only_b, "neither": neither,
            "all_text": _kappa_block(both, only_a, only_b, neither),
            "excluding_uncoded_text": _kappa_block(both, only_a, only_b, 0)}


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
