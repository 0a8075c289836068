"""The agreement report: the statistics of :mod:`eval.agreement` over :class:`Codings`, as a
JSON-ready dict (undefined values are ``None``).

Shape::

    {"n_units", "n_units_compared", "n_coders", "coders", "mode", "level",
     "overall":  {statistics},
     "per_code": {code: {statistics, "n_units", "n_positive", "prevalence", ["warning"]}},
     "pairs":    {"A|B": {"n_units", "percent_agreement", "cohen_kappa", "krippendorff_alpha"}},
     "rollup":   {parent code: like per_code}            (with a codebook),
     "confusion": {"rows", "columns", "labels", "counts"}  (nominal, two coders),
     "warnings": [...], "interpretation": {"kappa": legend, "alpha": legend}}

*statistics* are ``percent_agreement``, ``cohen_kappa`` ({value, se, ci}; exactly two coders),
``scott_pi`` (two coders), ``fleiss_kappa``, ``brennan_prediger``, ``gwet_ac1`` and
``krippendorff_alpha`` ({value, ci} with a percentile bootstrap over units), plus
``interpretation``: the Landis & Koch band of each kappa-type value and Krippendorff's band of
alpha.

Multilabel mode: each code is present/absent on every unit a coder saw (``per_code``); ``overall``
is the mean of the per-code values over the codes where each is defined, and
``krippendorff_alpha_pooled`` is alpha over all (unit, code) decisions at once (its interval
resamples units with all their codes). Nominal mode: every coder gives one code per unit and
``overall`` is computed on the categories directly; ``per_code`` is then each category against
the rest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from itertools import combinations
from typing import Any

import numpy as np

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from eval.agreement import (
    FORMULAS,
    MIN_UNITS_FOR_CI,
    brennan_prediger,
    category_kappa,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    gwet_ac1,
    interval,
    krippendorff_alpha,
    krippendorff_band,
    landis_koch,
    light_kappa,
    multilabel_to_binary,
    percent_agreement,
    rollup,
    scott_pi,
)
from eval.agreement_io import Codings, as_nominal

__all__ = ["MIN_POSITIVE", "agreement_report", "find_disagreements", "jsonable"]

MODES = ("multilabel", "nominal")
LEVELS = ("nominal", "ordinal", "interval", "ratio")
MIN_POSITIVE = 5  # fewer positive decisions than this for a code: its coefficients are unstable
KAPPA_BANDS = ("Landis & Koch (1977): below 0 poor, 0-.20 slight, .21-.40 fair, .41-.60 "
               "moderate, .61-.80 substantial, .81-1 almost perfect")
ALPHA_BANDS = ("Krippendorff (2004): alpha >= .800 reliable; .667 to .800 tentative conclusions "
               "only; below .667 unreliable")
KAPPA_LIKE = ("cohen_kappa", "scott_pi", "fleiss_kappa", "conger_kappa", "light_kappa",
              "brennan_prediger", "gwet_ac1")
HIERARCHY = {
    "as_given": "codes compared as each coder gave them",
    "derived": "parent codes derived the same way for every coder: each coder's leaf codes "
               "rolled up to their parents (parent codes given directly are set aside)",
    "leaves": "leaf codes only, for every coder (parent codes given directly are set aside)",
}
_NAN = float("nan")

Rows = list[list[Any]]


def agreement_report(codings: Mapping, *, mode: str = "multilabel", level: str = "nominal",
                     codebook: Codebook | Mapping[str, str | None] | None = None,
                     n_boot: int = 1000, seed: int = 0, hierarchy: str = "as_given",
                     labels: Mapping[str, str] | None = None) -> dict:
    """Agreement between the coders of ``codings`` ({coder: {unit: set(codes)}}).

    ``level`` is the metric of Krippendorff's alpha on the categories in nominal mode (interval
    and ratio need numeric codes; ordinal orders them by the codebook, else numerically, else
    alphabetically). ``codebook`` (a :class:`Codebook` or a ``{code: parent}`` mapping) adds
    the roll-up to parent codes and, for a Codebook covering all codes, sets the number of
    categories for Brennan-Prediger and AC1. ``n_boot=0`` skips the bootstrap intervals.

    ``hierarchy`` (needs a :class:`Codebook`) makes coders comparable when some give parent
    codes directly (a model does): ``"derived"`` keeps each coder's leaf codes and derives the
    parents from them, ``"leaves"`` keeps leaf codes only; ``"as_given"`` compares the codes as
    given. The report says which (``hierarchy``, ``hierarchy_note``). ``labels`` ``{code id:
    label}`` (else the codebook's, else those read with the codings) is shown beside every id.
    """
    if mode not in MODES:
        raise PrecodeInputError(f"unknown mode {mode!r} (use multilabel or nominal)",
                                field="--mode")
    if level not in LEVELS:
        raise PrecodeInputError(f"unknown level {level!r} (use {', '.join(LEVELS)})",
                                field="--level")
    if hierarchy not in HIERARCHY:
        raise PrecodeInputError(f"unknown value {hierarchy!r} (use {', '.join(HIERARCHY)})",
                                field="--hierarchy")
    if not isinstance(codings, Codings):
        codings = Codings(codings)
    label_of = _labels(codings, codebook, labels)
    if hierarchy != "as_given":
        if not isinstance(codebook, Codebook):
            raise PrecodeInputError(f"--hierarchy {hierarchy} needs a codebook (--codebook)",
                                    field="--hierarchy")
        codings = _like_with_like(codings, codebook, derive=hierarchy == "derived")
    coders, units, codes = codings.coders, codings.units, codings.codes
    if len(coders) < 2:
        raise PrecodeInputError(f"agreement needs at least two coders, found {len(coders)} "
                                f"({', '.join(coders) or 'none'}): give one file per coder or a "
                                "file with a coder column", field="coders")
    if mode == "nominal":
        nominal = as_nominal(codings)  # checks one code per unit before any computing
    warnings: list[str] = []
    seen_by = Counter(u for coder in coders for u in codings[coder])
    compared = sum(1 for u in units if seen_by[u] >= 2)
    if compared < len(units):
        warnings.append(f"{len(units) - compared} unit(s) were coded by only one coder and are "
                        "not compared")
    boot = {"n_boot": n_boot, "seed": seed}
    per_code = {code: _code_entry(rows, **boot)
                for code, rows in multilabel_to_binary(codings, codes).items()}
    warnings += [f"code {code!r}: {e['warning']}" for code, e in per_code.items() if "warning" in e]
    report: dict[str, Any] = {"n_units": len(units), "n_units_compared": compared,
                              "n_coders": len(coders), "coders": coders, "mode": mode,
                              "level": level, "n_boot": n_boot, "seed": seed,
                              "hierarchy": hierarchy, "hierarchy_note": HIERARCHY[hierarchy],
                              "ci_method": _ci_method(n_boot, seed)}
    if compared == 0 and units:
        warnings.append("no unit was coded by two coders, so nothing is compared: units must "
                        "be the same in every file (for coded spans of a document, e.g. "
                        "REFI-QDA projects, use --unit character)")
    pairs = {}
    if mode == "multilabel":
        overall = _mean(per_code.values())
        overall["n_codes"] = len(codes)
        overall["krippendorff_alpha_pooled"] = _pooled_alpha(codings, codes, **boot)
        for a, b in combinations(coders, 2):
            entries = [_stats(rows, categories=[0, 1], pair_only=True) for rows in
                       multilabel_to_binary({a: codings[a], b: codings[b]}, codes).values()]
            pairs[f"{a}|{b}"] = {"n_units": _n_both(codings, a, b), **_mean(entries)}
    else:
        rows = [[nominal[c].get(u) for c in coders] for u in units]
        categories, alpha = _nominal_scheme(rows, level, codebook, warnings)
        overall = _stats(rows, categories=categories, alpha=alpha, **boot)
        overall["n_categories"] = len(categories)
        overall["category_kappa"] = category_kappa(rows)
        for i, j in combinations(range(len(coders)), 2):
            sub = [[r[i], r[j]] for r in rows]
            pairs[f"{coders[i]}|{coders[j]}"] = {
                "n_units": _n_both(codings, coders[i], coders[j]),
                **_stats(sub, categories=categories, alpha=alpha, pair_only=True)}
        if len(coders) == 2:
            report["confusion"] = _confusion(rows, coders)
    report["overall"] = _interpret(overall)
    report["per_code"] = {code: {"label": label_of.get(code, code), **_interpret(e)}
                          for code, e in per_code.items()}
    report["pairs"] = {name: _interpret(e) for name, e in pairs.items()}
    if codebook is not None and hierarchy == "as_given":
        report["rollup"] = {code: {"label": label_of.get(code, code), **e} for code, e in
                            _rollup(codings, codes, codebook, warnings, boot).items()}
    report["labels"] = {code: label_of.get(code, code)
                        for code in [*report["per_code"], *report.get("rollup", {})]}
    report["formulas"] = {k: v for k, v in FORMULAS.items() if _uses(report, k)}
    report["warnings"] = warnings
    report["interpretation"] = {"kappa": KAPPA_BANDS, "alpha": ALPHA_BANDS}
    return jsonable(report)


def find_disagreements(codings: Mapping) -> list[dict]:
    """Units seen by two or more coders who did not give the same codes: ``{"unit", "text",
    "codes": {coder: sorted codes, or None if not seen}}``, in unit order."""
    if not isinstance(codings, Codings):
        codings = Codings(codings)
    out = []
    for unit in codings.units:
        given = {c: codings[c].get(unit) for c in codings.coders}
        seen = [frozenset(v) for v in given.values() if v is not None]
        if len(seen) >= 2 and len(set(seen)) > 1:
            out.append({"unit": unit, "text": codings.texts.get(unit),
                        "codes": {c: None if v is None else sorted(v) for c, v in given.items()}})
    return out


def jsonable(obj: Any) -> Any:
    """``obj`` with NaN/inf as ``None``, numpy scalars as Python numbers, tuples as lists."""
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- helpers


def _nominal_alpha(rows: Rows) -> float:
    return krippendorff_alpha(rows)


def _stats(rows: Rows, *, categories: list | None, alpha: Callable[[Rows], float] = _nominal_alpha,
           n_boot: int = 0, seed: int = 0, pair_only: bool = False) -> dict:
    """The statistics of one reliability matrix (units x coders, ``None`` = not seen)."""
    out: dict[str, Any] = {"percent_agreement": percent_agreement(rows)}
    n_coders = len(rows[0]) if rows else 0
    if n_coders == 2:
        a, b = [r[0] for r in rows], [r[1] for r in rows]
        k = cohen_kappa(a, b)
        out["cohen_kappa"] = {"value": k.value, "se": k.se, **_normal_ci(k)}
        if not pair_only:
            out["scott_pi"] = scott_pi(a, b)
    if not pair_only:
        out["fleiss_kappa"] = fleiss_kappa(rows)
        if n_coders > 2:
            out["conger_kappa"] = conger_kappa(rows)
            out["light_kappa"] = light_kappa(rows)
        out["brennan_prediger"] = brennan_prediger(rows, n_categories=len(categories or []) or None)
        out["gwet_ac1"] = gwet_ac1(rows, categories=categories)
    ci = interval(alpha, rows, n_boot=n_boot, seed=seed) if n_boot else {"ci": None, "note": None}
    out["krippendorff_alpha"] = {"value": alpha(rows), "ci": ci["ci"], "ci_note": ci["note"]}
    return out


def _normal_ci(k) -> dict:
    """Cohen's large-sample interval, none where it would collapse to a point."""
    if math.isnan(k.value):
        return {"ci": None, "ci_note": None}
    if k.n < MIN_UNITS_FOR_CI:
        return {"ci": None, "ci_note": f"too few units for an interval ({k.n} < "
                                       f"{MIN_UNITS_FOR_CI})"}
    if k.se <= 0:
        return {"ci": None, "ci_note": "no variance estimate (every unit agrees)"}
    return {"ci": list(k.ci), "ci_note": None}


def _ci_method(n_boot: int, seed: int) -> str:
    boot = (f"Krippendorff's alpha: percentile bootstrap over units ({n_boot} resamples, seed "
            f"{seed}, 95%)" if n_boot else "Krippendorff's alpha: no interval (--bootstrap 0)")
    return (f"{boot}; Cohen's kappa: normal interval from the large-sample SE of Fleiss, Cohen "
            f"& Everitt (1969). No interval with fewer than {MIN_UNITS_FOR_CI} units, or when "
            "every resample gives the same value.")


def _uses(report: dict, key: str) -> bool:
    entries = [report.get("overall", {}), *report.get("per_code", {}).values()]
    return any(key in e for e in entries) or (key == "krippendorff_alpha_pooled" and
                                              "krippendorff_alpha_pooled" in report["overall"])


def _labels(codings: Codings, codebook, labels) -> dict[str, str]:
    out: dict[str, str] = dict(getattr(codings, "labels", {}) or {})
    if isinstance(codebook, Codebook):
        out.update({c.id: c.label for c in codebook if c.label})
    out.update(labels or {})
    return out


def _like_with_like(codings: Codings, book: Codebook, *, derive: bool) -> Codings:
    """Every coder's codes reduced to leaves of ``book`` (codes outside it kept), rolled up to
    their parents when ``derive``."""
    def reduce(codes: set[str]) -> set[str]:
        unknown = {c for c in codes if c not in book}
        leaves = {c for c in codes - unknown if not book.children(c)}
        return (book.rollup(leaves) if derive else leaves) | unknown

    out = Codings({coder: {u: reduce(cs) for u, cs in units.items()}
                   for coder, units in codings.items()}, texts=codings.texts)
    out.origin.update(codings.origin)
    return out


def _code_entry(rows: Rows, *, n_boot: int, seed: int) -> dict:
    """One code present (1) / absent (0) per unit and coder."""
    values = [v for r in rows for v in r if v is not None]
    n_positive = int(sum(values))
    entry = {"n_units": sum(1 for r in rows if sum(v is not None for v in r) >= 2),
             "n_positive": n_positive,
             "prevalence": n_positive / len(values) if values else _NAN,
             **_stats(rows, categories=[0, 1], n_boot=n_boot, seed=seed)}
    if n_positive < MIN_POSITIVE:
        entry["warning"] = (f"only {n_positive} positive decision(s), fewer than {MIN_POSITIVE}: "
                            "its coefficients are unstable or undefined")
    return entry


def _value(stat: Any) -> float:
    value = stat["value"] if isinstance(stat, dict) else stat
    return _NAN if value is None else float(value)


def _mean(entries) -> dict:
    """Mean of each statistic over the entries where it is defined (intervals dropped)."""
    entries = list(entries)
    out: dict[str, Any] = {}
    for key in ("percent_agreement", *KAPPA_LIKE, "krippendorff_alpha"):
        found = [e[key] for e in entries if key in e]
        if not found:
            continue
        defined = [v for v in map(_value, found) if not math.isnan(v)]
        mean = float(np.mean(defined)) if defined else _NAN
        if isinstance(found[0], dict):  # cohen_kappa, krippendorff_alpha: no interval for a mean
            out[key] = {"value": mean, **{k: None for k in found[0] if k != "value"}}
        else:
            out[key] = mean
    return out


def _interpret(entry: dict) -> dict:
    bands = {k: landis_koch(_value(entry[k])) for k in KAPPA_LIKE if k in entry}
    for key in ("krippendorff_alpha", "krippendorff_alpha_pooled"):
        if key in entry:
            bands[key] = krippendorff_band(_value(entry[key]))
    return {**entry, "interpretation": bands}


def _n_both(codings: Codings, a: str, b: str) -> int:
    return len(codings[a].keys() & codings[b].keys())


def _pooled_alpha(codings: Codings, codes: list[str], *, n_boot: int, seed: int) -> dict:
    """Alpha over all (unit, code) decisions; the bootstrap resamples units with all codes."""
    matrices = list(multilabel_to_binary(codings, codes).values())
    blocks = [[m[i] for m in matrices] for i in range(len(codings.units))]

    def alpha(sample: list[Rows]) -> float:
        return krippendorff_alpha([row for block in sample for row in block])

    ci = interval(alpha, blocks, n_boot=n_boot, seed=seed) if n_boot else {"ci": None,
                                                                           "note": None}
    return {"value": alpha(blocks), "ci": ci["ci"], "ci_note": ci["note"]}


def _nominal_scheme(rows: Rows, level: str, codebook, warnings: list[str]):
    """The categories (the codebook's codable codes when it covers every value, else those
    observed) and the alpha function for ``level``."""
    observed = sorted({v for r in rows for v in r if v is not None})
    scheme = ([c.id for c in codebook if c.codable] if isinstance(codebook, Codebook) else [])
    categories = scheme if scheme and set(observed) <= set(scheme) else observed
    numeric: dict[str, float] = {}
    order = None
    if level != "nominal":
        try:
            numeric = {v: float(v) for v in observed}
        except ValueError:
            if level != "ordinal":
                raise PrecodeInputError(f"--level {level} needs numeric codes, got "
                                        f"{next(v for v in observed if not _is_number(v))!r}",
                                        field="--level") from None
            order = categories
            if categories is observed:
                warnings.append("ordinal alpha: categories ordered alphabetically (give a "
                                "codebook to set their order)")

    def alpha(sample: Rows) -> float:
        if numeric:
            sample = [[None if v is None else numeric[v] for v in r] for r in sample]
        return krippendorff_alpha(sample, level=level, categories=order)

    return categories, alpha


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _confusion(rows: Rows, coders: list[str]) -> dict:
    both = [(a, b) for a, b in rows if a is not None and b is not None]
    labels = sorted({v for pair in both for v in pair})
    counts = Counter(both)
    return {"rows": coders[0], "columns": coders[1], "labels": labels,
            "counts": [[counts[(x, y)] for y in labels] for x in labels]}


def _rollup(codings: Codings, codes: list[str], codebook, warnings: list[str], boot) -> dict:
    """Per parent code: present on a unit when the coder gave it any of its sub-codes."""
    if isinstance(codebook, Codebook):
        unknown = [c for c in codes if c not in codebook]
        if unknown:
            warnings.append(f"not in codebook {codebook.id}, so not rolled up: "
                            f"{', '.join(unknown)}")

        def parent_of(code):
            return codebook.codes[code].parent if code in codebook.codes else None
    else:
        parent_of = codebook
    parents = sorted(set().union(*(rollup({c}, parent_of) - {c} for c in codes)))
    rolled = {coder: {u: rollup(cs, parent_of) for u, cs in units.items()}
              for coder, units in codings.items()}
    out = {}
    for parent, rows in multilabel_to_binary(rolled, parents).items():
        entry = _code_entry(rows, **boot)
        if "warning" in entry:
            warnings.append(f"construct {parent!r}: {entry['warning']}")
        out[parent] = _interpret(entry)
    return out
