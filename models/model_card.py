"""``model_card.md``: what a model was trained on, how well it did on held-out data, and with what."""

from __future__ import annotations

from corpus.codebook import Codebook

# how the built-in model's training data is named in a manifest's ``training_sources``
SEED_SOURCE = "precode seed corpus"

REAL_SPEECH_CAUTION = (
    "These confidences were measured on excerpts written for precode, like those the model "
    "learned from. On real interview quotes from published NPT studies, the built-in model's "
    "suggestions have so far been no better than chance, and its confidences overstate. Treat its "
    "suggestions as prompts to check; `precode calibrate` on 20 or more excerpts you coded "
    "yourself makes its confidences mean what they say on your own speech (and makes it abstain "
    "where it cannot tell).")


def confidence_basis(manifest: dict, calibration: dict) -> dict:
    """What a model's confidences were measured on, in words for a researcher (``measured_on``),
    and a caution where they are known not to hold on real speech (``caution``, or None): a model
    that learnt from the seed corpus and was never calibrated on anyone's own codings."""
    rec = calibration.get("recalibration")
    if rec:
        source = f" (`{rec['source']}`)" if rec.get("source") else ""
        n = f"{rec['n_excerpts']} " if rec.get("n_excerpts") else ""
        return {"measured_on": f"{n}excerpts coded by a researcher{source}, not the ones the "
                               "model learned from", "caution": None}
    sources = list(manifest.get("training_sources") or [])
    named = f" ({', '.join(sources)})" if sources else ""
    seed = any(str(s).startswith(SEED_SOURCE) for s in sources)
    return {"measured_on": f"held-out excerpts of the model's own training data{named}, which "
                           "neither its encoder nor its head had seen",
            "caution": REAL_SPEECH_CAUTION if seed else None}


def _fmt(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def model_card(manifest: dict, calibration: dict, codebook: Codebook) -> str:
    m = manifest
    lines = [
        "# precode model card", "",
        f"Codebook `{m['codebook']}` ({len(codebook)} codes, {len(m['classes'])} learned). "
        f"Trained on {m['n_excerpts']} coded excerpts (data hash `{m['training_data_hash']}`) "
        f"from `{m['base_model']}`, seed {m['seed']}, in {m['training_seconds']:.0f} s.", "",
        "## How it decides", "",
        f"- Encoder fine-tuned on {m['n_pairs']} contrastive pairs from {m['n_fit']} excerpts "
        f"({m['training_args']['epochs']} epoch(s)); "
        "0 pairs means the base encoder is used as is.",
        f"- Confidence = Platt(w * head probability + w_lex * TF-IDF head probability + "
        f"(1 - w - w_lex) * neighbours' vote), w = {calibration['blend_weight']}, "
        f"w_lex = {calibration.get('lexical_weight', 0.0)}, a = {calibration['platt']['a']:.3f}, "
        f"b = {calibration['platt']['b']:.3f}, k = {calibration['k_vote']} neighbours.",
        f"- Blend, mapping and thresholds were chosen on {m['n_heldout']} held-out excerpts "
        "(whole scenarios when the data has them) that neither encoder nor head had seen.",
        "- Parent codes: noisy-OR of their children's confidences.",
        *(["- Reads each text with its context, the question it answers (as it learnt its "
           "excerpts): give new texts their question too (a `context` column or field; in a "
           "transcript, the interviewer turn before an answer is its question)."]
          if m.get("reads_context") else []), "",
        "## Held-out results", "",
        "Each half of the held-out excerpts was scored with settings chosen on the other half. "
        "These are estimates from one split; `precode bench quality` gives cross-validated ones.",
        "",
    ]
    metrics = m.get("heldout_metrics") or {}
    for part, title in (("codes", "learned codes"), ("parents", "parent codes")):
        r = metrics.get(part)
        if not r:
            continue
        lines += [f"**{title}**: macro-F1 {_fmt(r['macro_f1'])}, micro-F1 {_fmt(r['micro_f1'])}, "
                  f"mean kappa {_fmt(r['mean_kappa'])}"
                  + (f", top-1 accuracy {_fmt(r.get('top1_accuracy'))}"
                     if "top1_accuracy" in r else ""), "",
                  "| code | support | precision | recall | F1 | kappa | threshold |",
                  "|---|---|---|---|---|---|---|"]
        for code, s in r["per_code"].items():
            lines.append(f"| {code} | {s['support']} | {_fmt(s['precision'])} | "
                         f"{_fmt(s['recall'])} | {_fmt(s['f1'])} | {_fmt(s['kappa'])} | "
                         f"{calibration['thresholds'].get(code, 0.5):.3f} |")
        lines.append("")
    rec = calibration.get("recalibration")
    if rec:
        lines += _recalibration_section(rec)
    caution = confidence_basis(m, calibration)["caution"]
    if caution:
        lines += ["## On real interview speech", "", caution, ""]
    learnt = set(m["classes"])
    rare = [c for c, n in m["code_counts"].items() if 0 < n and c not in learnt]
    unseen = [c for c, n in m["code_counts"].items()
              if n == 0 and c not in calibration["thresholds"]]
    lines += ["## Data", "", "| code | excerpts |", "|---|---|"]
    lines += [f"| {c} | {n} |" for c, n in m["code_counts"].items()]
    lines.append("")
    if m.get("n_code_texts"):
        lines += [f"Each code in use was also learnt from the codebook's own words (label, "
                  f"definition, include note, examples): {m['n_code_texts']} texts, counted "
                  f"{m['training_args'].get('code_text_weight', 1)} times each by the heads; a "
                  "code coded fewer than "
                  f"{m['training_args']['min_examples']} times is learnt when they make up the "
                  "difference.", ""]
    if rare:
        lines += [f"Too few examples to learn (suggested only through parents, if at all): "
                  f"{', '.join(rare)}.", ""]
    if unseen:
        lines += [f"No examples, never suggested: {', '.join(unseen)}.", ""]
    lines += ["## Versions", ""]
    lines += [f"- {k}: {v}" for k, v in m["versions"].items()]
    lines += [f"- python: {m['python']}", f"- precode: {m['precode_version']}", ""]
    return "\n".join(lines)


def _recalibration_section(rec: dict) -> list[str]:
    b, a = rec["before"], rec["after"]
    lines = ["## Calibrated on the researcher's own coded excerpts", "",
             f"Confidences are mapped a second time (a = {rec['a']:.3f}, b = {rec['b']:.3f} on "
             f"their log-odds) on {rec['n_excerpts']} coded excerpts"
             + (f" from `{rec['source']}`" if rec.get("source") else "")
             + f"; a code is suggested only at confidence {rec['floor']:.2f} or more. Judged "
             f"codes: {', '.join(rec['judged'])}.", "",
             "On held-out halves of those excerpts (the mapping fitted on the other half):", "",
             "| | calibration error (ECE) | segments with a suggestion | precision |",
             "|---|---|---|---|",
             f"| before | {_fmt(b['ece'])} | {b['suggested_share']:.0%} | {_fmt(b['precision'])} |",
             f"| after | {_fmt(a['ece'])} | {a['suggested_share']:.0%} | {_fmt(a['precision'])} |",
             ""]
    return lines
