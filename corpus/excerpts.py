"""Coded excerpts: texts with the set of codes a coder gave them, in CSV and JSONL.

Columns: ``text``, ``codes`` (code ids separated by ``;``, empty for an excerpt coded with nothing;
in JSONL also a list), optional ``id``, ``coder``, ``document``, ``start``, ``end`` and
``context``: the question the text answers (a survey's question, the interviewer's prompt). Any
other columns and JSONL keys are kept in ``meta``, the context too (``meta["context"]``).

A model trained on excerpts that carry a context reads each text with its context
(``with_context``), when it learns and when it suggests: the same answer can mean different codes
under different questions.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corpus.codebook import Codebook
from corpus.errors import ExcerptError
from corpus.textio import jsonl_objects, read_text

COLUMNS = ["id", "text", "codes", "coder", "document", "start", "end"]
CONTEXT = "context"


CONTEXT_WORDS = 40  # a long interviewer turn ends with its question: its last words are kept


def with_context(text: str, context: str | None) -> str:
    """The text a context-reading model sees: the context (its last ``CONTEXT_WORDS`` words),
    then the text; the text alone when there is no context."""
    words = (context or "").split()
    if not words:
        return text
    head = "… " if len(words) > CONTEXT_WORDS else ""
    return f"{head}{' '.join(words[-CONTEXT_WORDS:])}: {text}"


def context_of(excerpt) -> str | None:
    """An excerpt's (or exemplar's, or segment's) context, if it has one."""
    value = excerpt.meta.get(CONTEXT)
    return value.strip() or None if isinstance(value, str) else None


def context_meta(context: str | None) -> dict:
    """The ``meta`` entry that holds a context: nothing for none or a blank one."""
    context = (context or "").strip()
    return {CONTEXT: context} if context else {}


@dataclass
class Excerpt:
    text: str
    codes: tuple[str, ...] = ()
    id: str | None = None
    coder: str | None = None
    document: str | None = None
    start: int | None = None
    end: int | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"id": self.id, "text": self.text, "codes": list(self.codes), "coder": self.coder,
               "document": self.document, "start": self.start, "end": self.end}
        out = {k: v for k, v in out.items() if v is not None}
        out.update(self.meta)
        return out


def _split_codes(value, *, src: str, line: int) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ExcerptError("'codes' list must hold code ids (text)", source=src, line=line,
                               field="codes")
        return [v.strip() for v in value if v.strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    raise ExcerptError("'codes' must be text like 'a;b' or a list", source=src, line=line,
                       field="codes")


def _offset(value, *, src: str, line: int, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ExcerptError(f"{name} must be a whole number, not {value!r}", source=src,
                           line=line, field=name) from None
    if number < 0:
        raise ExcerptError(f"{name} must not be negative", source=src, line=line, field=name)
    return number


def _read_rows(path: Path) -> Iterable[tuple[int, dict]]:
    src = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ExcerptError("coded excerpts must be .csv or .jsonl", source=src)
    text = read_text(path, error=ExcerptError)
    if suffix == ".jsonl":
        yield from jsonl_objects(text, source=src, error=ExcerptError)
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if "text" not in header or "codes" not in header:
            raise ExcerptError("needs the columns 'text' and 'codes'", source=src, line=1)
        reader.fieldnames = header
        for row in reader:
            if None in row:
                raise ExcerptError("more fields than columns", source=src, line=reader.line_num)
            yield reader.line_num, row


def read_excerpts(path: str | Path, codebook: Codebook | None = None, *,
                  code_map: dict[str, str] | None = None, drop_unknown: bool = False,
                  coder: str | None = None) -> list[Excerpt]:
    """Read coded excerpts, checking every code against ``codebook``.

    An unknown code is an error naming the row, unless ``code_map`` renames it (map to ``""`` to
    drop that code) or ``drop_unknown`` drops it. ``coder`` fills in a missing coder column.
    """
    path = Path(path)
    src = str(path)
    code_map = code_map or {}
    out: list[Excerpt] = []
    for line, row in _read_rows(path):
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ExcerptError("empty text", source=src, line=line, field="text")
        if "codes" not in row:
            raise ExcerptError("missing 'codes'", source=src, line=line, field="codes")
        codes: list[str] = []
        for code in _split_codes(row.get("codes"), src=src, line=line):
            code = code_map.get(code, code)
            if not code:
                continue
            if codebook is not None and code not in codebook:
                code = codebook.resolve(code) or code  # a code's label names it too
            if codebook is not None and code not in codebook:
                if drop_unknown:
                    continue
                raise ExcerptError(f"unknown code {code!r} (not in codebook {codebook.id}; map "
                                   "it or drop unknown codes explicitly)", source=src, line=line,
                                   field="codes")
            if code not in codes:
                codes.append(code)
        start = _offset(row.get("start"), src=src, line=line, name="start")
        end = _offset(row.get("end"), src=src, line=line, name="end")
        if start is not None and end is not None and end < start:
            raise ExcerptError("end is before start", source=src, line=line, field="end")
        known = set(COLUMNS)
        meta = {k: v for k, v in row.items() if k not in known and v not in (None, "")}
        if CONTEXT in meta and not isinstance(meta[CONTEXT], str):
            raise ExcerptError("context must be text", source=src, line=line, field=CONTEXT)
        out.append(Excerpt(text=text, codes=tuple(codes),
                           id=str(row["id"]) if row.get("id") not in (None, "") else None,
                           coder=(row.get("coder") or coder) or None,
                           document=row.get("document") or None, start=start, end=end,
                           meta=meta))
    if not out:
        raise ExcerptError("no excerpts in the file", source=src)
    return out


def write_excerpts(excerpts: Iterable[Excerpt], path: str | Path) -> Path:
    """Write excerpts as .jsonl or .csv (by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        if suffix == ".jsonl":
            for ex in excerpts:
                fh.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
        elif suffix == ".csv":
            excerpts = list(excerpts)
            contexts = any(context_of(ex) for ex in excerpts)
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS + [CONTEXT] * contexts)
            for ex in excerpts:
                writer.writerow([ex.id or "", ex.text, ";".join(ex.codes), ex.coder or "",
                                 ex.document or "", "" if ex.start is None else ex.start,
                                 "" if ex.end is None else ex.end]
                                + [context_of(ex) or ""] * contexts)
        else:
            tmp.unlink()
            raise ExcerptError("write coded excerpts as .csv or .jsonl", source=str(path))
    tmp.replace(path)
    return path


def multi_hot(excerpts: Iterable[Excerpt], classes: list[str]):
    """A (n_excerpts, n_classes) 0/1 float32 matrix; columns follow ``classes``."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    rows = list(excerpts)
    y = np.zeros((len(rows), len(classes)), dtype=np.float32)
    for r, ex in enumerate(rows):
        for code in ex.codes:
            if code in index:
                y[r, index[code]] = 1.0
    return y


def to_dataset(excerpts: list[Excerpt], classes: list[str]):
    """A Hugging Face ``datasets.Dataset`` with ``text``, ``codes`` and a multi-hot ``labels``."""
    from datasets import Dataset

    y = multi_hot(excerpts, classes)
    return Dataset.from_dict({
        "text": [e.text for e in excerpts],
        "codes": [list(e.codes) for e in excerpts],
        "labels": y.tolist(),
    })
