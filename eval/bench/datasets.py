"""Benchmark datasets: the reference data published by others (``../shared/data`` beside the
checkout, or ``PRECODE_REFERENCE_DATA``), read as excerpts and codebooks. Evaluation only: nothing
here is ever trained into a shipped model.

- ``npt_quotes_dev``: real participant quotes labelled by their papers' authors with an NPT
  construct (the development set for suggestion quality on real interview speech).
- ``ci_claims``: 113 claims with a gold code and two human annotators' codes.
- ``fivewords``: 1,282 survey answers, multi-label hierarchical codes from a primary coder and,
  for 759 answers, a secondary coder.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from corpus.codebook import Code, Codebook, slug
from corpus.errors import PrecodeInputError
from corpus.excerpts import CONTEXT, Excerpt
from eval.agreement_io import read_ci_claims_annotators

NPT_CONSTRUCTS = ["npt.coherence", "npt.cognitive_participation", "npt.collective_action",
                  "npt.reflexive_monitoring"]
# What an expert reading the development quotes blind, with only the NPT definitions, reached
# against the authors' labels (as reported in npt_quotes_dev/README.md).
NPT_EXPERT = {"kappa": 0.25, "top2": 0.78}


REFERENCE_ENV = "PRECODE_REFERENCE_DATA"


def reference_data_dir() -> Path:
    """``$PRECODE_REFERENCE_DATA``, else ``../shared/data`` beside the checkout; the one place the
    benchmarks and the tests find the reference data."""
    configured = os.environ.get(REFERENCE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _folder(folder: str | Path | None, name: str) -> Path:
    path = Path(folder) if folder else reference_data_dir() / name
    if not path.is_dir():
        raise PrecodeInputError(f"reference data set {name!r} not found (set "
                                "PRECODE_REFERENCE_DATA to the folder holding it)",
                                source=str(path))
    return path


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrecodeInputError("file not found", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise PrecodeInputError(f"invalid JSON: {exc.msg}", source=str(path), line=exc.lineno
                                ) from None


def load_npt_quotes(folder: str | Path | None = None) -> list[Excerpt]:
    """The development quotes, each coded with the construct its authors report it under."""
    path = _folder(folder, "npt_quotes_dev") / "quotes.jsonl"
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise PrecodeInputError("file not found", source=str(path)) from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PrecodeInputError(f"invalid JSON: {exc.msg}", source=str(path), line=lineno
                                    ) from None
        construct = f"npt.{row.get('construct')}"
        if construct not in NPT_CONSTRUCTS:
            raise PrecodeInputError(f"unknown construct {row.get('construct')!r}",
                                    source=str(path), line=lineno, field="construct")
        out.append(Excerpt(text=row["text"], codes=(construct,), id=f"quote-{lineno}",
                           coder="authors", meta={"source": row.get("source", "")}))
    return out


@dataclass
class TwoCoderData:
    """Texts with a primary coding for every one and a second coder's for some (``None`` where the
    second coder did not see the text), and gold codes where the data set has them."""

    excerpts: list[Excerpt]            # codes: the primary (training) coder's
    second: list[tuple[str, ...] | None]
    gold: list[tuple[str, ...]] | None
    codebook: Codebook
    primary_name: str
    second_name: str


def load_ci_claims(folder: str | Path | None = None) -> tuple[list[Excerpt], Codebook]:
    """The 113 gold-coded claims and a two-level codebook (6 themes, 31 codes).

    The dataset names its codes but does not define them, so each code's definition is its own
    name: all a model can learn from is the coded examples.
    """
    path = _folder(folder, "ci_claims") / "02_dataset_gold_CI.json"
    rows = _read_json(path)
    codes: dict[str, Code] = {}
    excerpts = []
    for row in rows:
        theme, code = row["labels"]["theme"], row["labels"]["code"]
        theme_id = slug(theme)
        code_id = f"{theme_id}.{slug(code.removeprefix('CI IS ASSOCIATED WITH '))}"
        codes.setdefault(theme_id, Code(id=theme_id, label=theme.title(),
                                        definition=f"Theme: {theme.lower()}."))
        codes.setdefault(code_id, Code(id=code_id, label=code.capitalize(),
                                       definition=code.capitalize() + "."))
        excerpts.append(Excerpt(text=row["input"]["claim"], codes=(code_id,),
                                id=row["paper_id"], coder="gold",
                                meta={"theme": theme_id}))
    book = Codebook.from_codes(codes.values(), id="ci_claims", label="CI evidence claims",
                               source=str(path))
    return excerpts, book


def load_ci_claims_coders(folder: str | Path | None = None) -> TwoCoderData:
    """ci_claims with annotator 1 as the primary coder, annotator 2 second, and the gold codes.

    Annotators wrote code names; each maps to the gold codebook's code of the same name."""
    base = _folder(folder, "ci_claims")
    gold, book = load_ci_claims(base)
    by_name = {book[c].label.upper(): c for c in book.codes if book[c].parent}
    sheets = read_ci_claims_annotators(base)  # coders named by file stem
    coded: list[dict[str, tuple[str, ...]]] = []
    for coder in ("human_annotator_1", "human_annotator_2"):
        if coder not in sheets:
            raise PrecodeInputError("annotation sheet not found", source=str(base / f"{coder}.csv"))
        codes = {}
        for claim, names in sheets[coder].items():
            unknown = sorted(n for n in names if n.upper() not in by_name)
            if unknown:
                source, line = sheets.origin.get((coder, claim), (None, None))
                raise PrecodeInputError(f"code {unknown[0]!r} is not in the ci_claims codebook",
                                        source=source, line=line, field="Your Code")
            codes[claim] = tuple(by_name[n.upper()] for n in sorted(names))
        coded.append(codes)
    first, second = coded
    missing = [ex.id for ex in gold if ex.id not in first]
    if missing:
        raise PrecodeInputError(f"annotator 1 did not code {len(missing)} claims, e.g. {missing[0]}",
                                source=str(base / "human_annotator_1.csv"))
    excerpts = [Excerpt(text=ex.text, codes=first[ex.id], id=ex.id, coder="annotator 1")
                for ex in gold]
    return TwoCoderData(excerpts=excerpts, second=[second.get(ex.id) for ex in gold],
                        gold=[ex.codes for ex in gold], codebook=book,
                        primary_name="annotator 1", second_name="annotator 2")


def _fivewords_id(path: str) -> str:
    return ".".join(slug(part) for part in path.split("->"))


def _question_words(field_name: str) -> str:
    """The survey's field name of a question in words (``manage_pword``: "manage password")."""
    return " ".join("password" if w == "pword" else w for w in field_name.split("_"))


def load_fivewords(folder: str | Path | None = None) -> TwoCoderData:
    """The five-word-password survey answers: primary coder for all, secondary for 761.

    Codes are shared across questions; ``a->b`` is sub-code ``b`` of ``a``. A code's definition
    is its own name (the codebook PDF is not machine-read). Each answer's context is its
    question, as the survey export names it (the field name in words: the workbooks do not
    hold the questions' wording)."""
    path = _folder(folder, "fivewords_two_coder") / "fivewords_two_coder_long.csv"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PrecodeInputError("file not found", source=str(path)) from None
    excerpts, second = [], []
    names: dict[str, str] = {}

    def parse(cell: str, lineno: int, column: str) -> tuple[str, ...]:
        try:
            values = json.loads(cell)
        except json.JSONDecodeError as exc:
            raise PrecodeInputError(f"invalid JSON list: {exc.msg}", source=str(path),
                                    line=lineno, field=column) from None
        ids = []
        for value in values:
            parts = str(value).split("->")
            for depth in range(1, len(parts) + 1):
                names.setdefault(_fivewords_id("->".join(parts[:depth])), parts[depth - 1])
            ids.append(_fivewords_id(str(value)))
        return tuple(dict.fromkeys(ids))

    reader = csv.DictReader(text.splitlines())
    for lineno, row in enumerate(reader, 2):
        unit = f"{row['survey']}:{row['question_id']}:{row['response_id']}"
        excerpts.append(Excerpt(text=row["text"], codes=parse(row["primary_codes"], lineno,
                                                              "primary_codes"),
                                id=unit, coder="primary",
                                meta={"question": row["question_field"],
                                      CONTEXT: _question_words(row["question_field"])}))
        # the secondary coder coded a sample of the answers; an empty list marks one not coded
        cell = row["secondary_codes"].strip()
        codes = parse(cell, lineno, "secondary_codes") if cell else ()
        second.append(codes or None)
    codes = [Code(id=i, label=name, definition=name.replace("_", " ") + ".")
             for i, name in sorted(names.items())]
    book = Codebook.from_codes(codes, id="fivewords", label="Five-word passwords survey codes",
                               source=str(path))
    return TwoCoderData(excerpts=excerpts, second=second, gold=None, codebook=book,
                        primary_name="primary coder", second_name="secondary coder")
