"""``precode evaluate``: the model as one more coder, scored against gold codings.

The model codes every gold unit's text; then per code precision, recall and F1 against the gold
coder, and the agreement statistics of model vs. gold. When the gold files hold two coders, the
human-human figures are reported beside them, so a reader sees how far the model is from the
agreement people reach.
"""

from __future__ import annotations

import numpy as np

from corpus.errors import PrecodeInputError
from eval.agreement_io import Codings
from eval.agreement_report import agreement_report
from models.metrics import report as classifier_report

MODEL = "model"


def model_codings(suggester, gold: Codings, *, batch_size: int = 64) -> dict[str, set[str]]:
    units = [u for u in gold.units if u in gold.texts]
    missing = [u for u in gold.units if u not in gold.texts]
    if missing:
        raise PrecodeInputError(f"{len(missing)} gold unit(s) have no text to code (e.g. "
                                f"{missing[0]!r}); give coded-excerpt files with a text column")
    results = suggester.suggest([gold.texts[u] for u in units], batch_size=batch_size)
    return {u: {s.code for s in r.suggestions} for u, r in zip(units, results, strict=True)}


def evaluate(suggester, gold: Codings, *, gold_coder: str | None = None, n_boot: int = 1000,
             seed: int = 0, hierarchy: str = "derived") -> dict:
    """The model against ``gold_coder``, like with like: by default (``hierarchy="derived"``)
    parent codes are derived from leaf codes the same way for the model (which also suggests
    parents directly) and for people; ``"leaves"`` compares leaf codes only; ``"as_given"`` the
    codes as given. The result names the choice (``hierarchy``)."""
    humans = gold.coders
    if MODEL in humans:
        raise PrecodeInputError("a gold coder is called 'model'; rename it", field="coder")
    if gold_coder is None:
        gold_coder = humans[0]
    if gold_coder not in humans:
        raise PrecodeInputError(f"no coder {gold_coder!r} in the gold files (coders: "
                                f"{', '.join(humans)})", field="--gold-coder")
    book = suggester.codebook
    unknown = sorted({c for c in gold.codes if c not in book})
    if unknown:
        raise PrecodeInputError(f"gold codes not in the model's codebook: {', '.join(unknown[:8])}",
                                field="codes")
    predicted = model_codings(suggester, gold)
    units = list(predicted)
    leaves = [c for c in suggester.classes_]
    columns = leaves + [c.id for c in book.walk() if c.id not in leaves and
                        any(c.id in book.ancestors(k) for k in leaves)]

    def matrix(codes_by_unit: dict[str, set[str]]) -> np.ndarray:
        y = np.zeros((len(units), len(columns)))
        for i, u in enumerate(units):
            given = codes_by_unit.get(u, set())
            if hierarchy != "as_given":  # parents only as derived from leaves, for every coder
                given = {c for c in given if not book.children(c)}
            for c in book.rollup(given):
                if c in columns:
                    y[i, columns.index(c)] = 1
        return y

    truth, pred = matrix(gold[gold_coder]), matrix(predicted)
    with_model = Codings({gold_coder: gold[gold_coder], MODEL: predicted}, texts=gold.texts)
    out = {
        "gold_coder": gold_coder,
        "n_units": len(units),
        "classifier": {"codes": classifier_report(truth[:, :len(leaves)], pred[:, :len(leaves)],
                                                  leaves),
                       "parents": classifier_report(truth[:, len(leaves):], pred[:, len(leaves):],
                                                    columns[len(leaves):])},
        "hierarchy": hierarchy,
        "model_vs_gold": agreement_report(with_model, codebook=book, n_boot=n_boot, seed=seed,
                                          hierarchy=hierarchy),
    }
    if len(humans) >= 2:
        out["human_vs_human"] = agreement_report(Codings({h: gold[h] for h in humans},
                                                         texts=gold.texts),
                                                 codebook=book, n_boot=n_boot, seed=seed,
                                                 hierarchy=hierarchy)
    return out


def _f(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def render_text(result: dict) -> str:
    """One kappa per comparison: Cohen's kappa averaged over the same codes as the agreement
    report (the classifier tables give precision, recall and F1 only)."""
    lines = [f"Model against {result['gold_coder']} on {result['n_units']} units", ""]
    labels = result.get("model_vs_gold", {}).get("labels", {})
    for part in ("codes", "parents"):
        r = result["classifier"][part]
        if not r["per_code"]:
            continue
        lines.append(f"{part}: macro-F1 {_f(r['macro_f1'])}, micro-F1 {_f(r['micro_f1'])}")
        lines.append(f"  {'code':60s} {'n':>4s} {'prec':>6s} {'rec':>6s} {'F1':>6s}")
        for code, s in r["per_code"].items():
            label = labels.get(code, code)
            name = code if label == code else f"{label} ({code})"
            lines.append(f"  {name[:60]:60s} {s['support']:4d} {_f(s['precision']):>6s} "
                         f"{_f(s['recall']):>6s} {_f(s['f1']):>6s}")
        lines.append("")
    for key, title in (("model_vs_gold", "model vs gold"), ("human_vs_human", "human vs human")):
        if key in result:
            o = result[key]["overall"]
            alpha = o.get("krippendorff_alpha")
            kappa = o.get("cohen_kappa")
            lines.append(f"{title}: percent agreement {_f(_v(o.get('percent_agreement')))}, "
                         f"Cohen's kappa (mean over {o.get('n_codes')} codes) {_f(_v(kappa))}, "
                         f"Krippendorff's alpha {_f(_v(alpha))}")
    note = next((result[k]["hierarchy_note"] for k in ("model_vs_gold", "human_vs_human")
                 if k in result and "hierarchy_note" in result[k]), None)
    if note:
        lines.append(f"codes compared: {note}")
    return "\n".join(lines) + "\n"


def _v(stat):
    return stat.get("value") if isinstance(stat, dict) else stat
