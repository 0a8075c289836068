"""A codebook's own words as examples of its codes.

A researcher's codebook names and usually defines every code; with a few coded excerpts a code,
that text is often the best evidence of what the code means. Each code the coders used gives one
example made of its label, definition and include note, and one for each of its examples. They
join the contrastive pairs of fine-tuning once and teach the heads ``code_text_weight`` times
(``TrainingArguments``). They are never in the held-out share that calibrates the model (real
coded excerpts decide its thresholds) and never in the exemplar index: a suggestion's evidence is
always a coded excerpt.
"""

from __future__ import annotations

import numpy as np

from corpus.codebook import Codebook
from corpus.excerpts import Excerpt, multi_hot
from training.args import TrainingArguments
from training.calibration import HeadExtra, choose_classes

ID_PREFIX = "codebook:"


def code_text(codebook: Codebook, code_id: str) -> str:
    """Label, definition (where it says more than the label) and include note, as one text."""
    code = codebook[code_id]
    label = code.label.strip()
    definition = code.definition.strip()
    parts = [label if label.endswith((".", "?", "!")) else label + "."]
    if definition and definition.rstrip(".").strip().lower() != label.rstrip(".").lower():
        parts.append(definition)
    if code.include.strip():
        parts.append(code.include.strip())
    return " ".join(parts)


def code_examples(codebook: Codebook, used: set[str] | frozenset[str]) -> list[Excerpt]:
    """For each code in ``used`` (the codes of the coded excerpts), one excerpt from its text and
    one per example the codebook gives. A code nobody used gets none: a code is learnt from
    coded excerpts, its own words only help."""
    out = []
    for code_id in codebook.codes:
        code = codebook[code_id]
        if code_id not in used:
            continue
        texts = [code_text(codebook, code_id), *(e.strip() for e in code.examples if e.strip())]
        for k, text in enumerate(dict.fromkeys(texts)):
            out.append(Excerpt(text=text, codes=(code_id,), id=f"{ID_PREFIX}{code_id}:{k}",
                               coder="codebook"))
    return out


def classes_with_code_texts(excerpts: list[Excerpt], codebook: Codebook, args: TrainingArguments
                            ) -> tuple[list[str], list[Excerpt]]:
    """The codes a model learns and the codebook texts it learns them from too (none when
    ``args.code_text_weight`` is 0): a code is learnt when its coded excerpts and its own texts
    make at least ``args.min_examples``."""
    used = {c for ex in excerpts for c in ex.codes}
    texts = code_examples(codebook, used) if args.code_text_weight else []
    classes, _ = choose_classes(excerpts + texts, codebook, args.min_examples)
    return classes, texts


def head_extra(texts: list[Excerpt], emb: np.ndarray, classes: list[str],
               args: TrainingArguments) -> HeadExtra:
    """The codebook texts (embedded as ``emb``) as the heads' extra examples, each counted
    ``args.code_text_weight`` times."""
    return HeadExtra.repeated(emb.astype(np.float32), multi_hot(texts, classes),
                              [ex.text for ex in texts], args.code_text_weight)
