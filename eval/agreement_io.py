"""Reading codings from several coders into one structure, :class:`Codings`, for agreement.

``Codings`` is ``{coder: {unit: set(codes)}}``: a unit a coder never saw is absent from that
coder's dict, an empty set means the coder saw the unit and gave it no code. It also carries the
unit texts (``texts``), coded spans for character- and segment-level agreement (``spans``,
``lengths``) and where each (coder, unit) was read (``origin``), so later errors name the file.

Inputs (:func:`read_codings` tells them apart by suffix and header):

- long CSV, columns ``unit,coder,code`` (one row per code; a row with an empty code: the coder
  saw the unit and gave no code); an optional ``text`` column gives the unit text;
- wide CSV, ``unit`` then one column per coder (a column ``text`` is the unit text, not a
  coder); a cell may hold several codes separated by ``;``; an empty cell: no code; ``NA`` or a
  missing cell: the coder did not see the unit;
- coded-excerpt files (``text``, ``codes``, ... in CSV or JSONL, see :mod:`corpus.excerpts`):
  the coder is the ``coder`` column, else the file stem; the unit is the excerpt ``id``, else its
  text; excerpts with ``document``, ``start``, ``end`` also give spans;
- the output of ``precode code`` (JSONL or CSV, one record per segment with ``segment_id``):
  coder ``"model"``, unit = ``segment_id``, the suggested codes; segments the model did not code
  (``"coded": false``) are left out;
- an annotation sheet (CSV with title lines, a header ``#, Claim ID, Claim Text, Your Code, ...``
  and theme rows between the claims), as in the ci_claims human baseline; coder = file stem;
- REFI-QDA ``.qdpx`` through ``corpus.refi.read_qdpx_codings`` (units ``document:start-end``,
  also read as spans).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from corpus.textio import jsonl_objects, read_text

__all__ = ["Codings", "Span", "as_nominal", "read_ci_claims_annotators", "read_codings", "read_file"]

MODEL = "model"
NOT_SEEN = "NA"


class Span(NamedTuple):
    """One code applied to the characters ``start:end`` of a document (Python string offsets)."""

    document: str
    start: int
    end: int
    code: str


class Codings(dict):
    """``{coder: {unit: set(codes)}}`` plus ``texts`` ``{unit: text}``, ``spans``
    ``{coder: [Span, ...]}``, ``lengths`` ``{document: characters}`` (the true length where the
    document's text was read, listed in ``known_lengths``; else the longest end seen),
    ``labels`` ``{code id: label}`` read with the codings and ``origin`` ``{(coder, unit):
    (file, line)}``."""

    def __init__(self, data=None, *, texts=None):
        super().__init__()
        self.texts: dict[str, str] = {}
        self.spans: dict[str, list[Span]] = {}
        self.lengths: dict[str, int] = {}
        self.known_lengths: set[str] = set()
        self.labels: dict[str, str] = {}
        self.origin: dict[tuple[str, str], tuple[str | None, int | None]] = {}
        for coder, units in (data or {}).items():
            for unit, codes in units.items():
                self.add(coder, unit, codes)
        self.texts.update(texts or {})

    @property
    def coders(self) -> list[str]:
        return list(self)

    @property
    def units(self) -> list[str]:
        """Every unit some coder saw, in order of first appearance."""
        return list(dict.fromkeys(u for units in self.values() for u in units))

    @property
    def codes(self) -> list[str]:
        return sorted({c for units in self.values() for codes in units.values() for c in codes})

    def add(self, coder: str, unit: str, codes: Iterable[str] = (), *, source: str | None = None,
            line: int | None = None, codebook: Codebook | None = None) -> None:
        """Record that ``coder`` saw ``unit`` and gave it ``codes`` (added to earlier ones)."""
        codes = [c for c in (str(c).strip() for c in codes) if c]
        if codebook is not None:  # a code's label names it too
            codes = [c if c in codebook else codebook.resolve(c) or c for c in codes]
        for code in codes:
            if codebook is not None and code not in codebook:
                raise PrecodeInputError(f"unknown code {code!r} (not in codebook {codebook.id})",
                                        source=source, line=line, field="code")
        where = self.origin.setdefault((coder, unit), (source, line))
        if where[0] != source:
            raise PrecodeInputError(f"coder {coder!r} coded unit {unit!r} already in {where[0]}"
                                    " (one coder's unit must come from one file)",
                                    source=source, line=line)
        self.setdefault(coder, {}).setdefault(unit, set()).update(codes)

    def add_span(self, coder: str, span: Span) -> None:
        self.spans.setdefault(coder, []).append(span)
        self.see(span.document, span.end)

    def see(self, document: str, end: int) -> None:
        if document not in self.known_lengths:
            self.lengths[document] = max(self.lengths.get(document, 0), end)

    def set_length(self, document: str, length: int) -> None:
        """The document's true length (its text was read)."""
        self.lengths[document] = length
        self.known_lengths.add(document)

    def merge(self, other: Codings) -> Codings:
        """Add ``other``'s codings, texts and spans to these (in place); returns ``self``."""
        for coder, units in other.items():
            for unit, codes in units.items():
                source, line = other.origin.get((coder, unit), (None, None))
                self.add(coder, unit, codes, source=source, line=line)
        for coder, spans in other.spans.items():
            for span in spans:
                self.add_span(coder, span)
        for document, end in other.lengths.items():
            if document in other.known_lengths:
                self.set_length(document, end)
            else:
                self.see(document, end)
        self.texts.update(other.texts)
        self.labels.update(other.labels)
        return self


def as_nominal(codings: Codings) -> dict[str, dict[str, str]]:
    """``{coder: {unit: code}}``; raises naming unit, coder and file unless every coder gave
    exactly one code to every unit they saw."""
    out: dict[str, dict[str, str]] = {}
    for coder, units in codings.items():
        for unit, codes in units.items():
            if len(codes) != 1:
                source, line = codings.origin.get((coder, unit), (None, None))
                got = ", ".join(sorted(codes)) if codes else "none"
                raise PrecodeInputError(f"unit {unit!r}, coder {coder!r}: --mode nominal needs "
                                        f"exactly one code per unit, got {got}", source=source,
                                        line=line)
            out.setdefault(coder, {})[unit] = next(iter(codes))
    return out


# --------------------------------------------------------------------------- reading files


def read_codings(paths: Iterable[str | Path], *, codebook: Codebook | None = None) -> Codings:
    """Read and merge coding files (one or several coders each); see the module docstring."""
    result = Codings()
    names_by_text: dict[str, str] = {}  # one document, one name, across REFI-QDA projects
    for path in paths:
        if Path(path).suffix.lower() == ".qdpx":
            result.merge(_read_qdpx(Path(path), names_by_text))
        else:
            result.merge(read_file(path, codebook=codebook))
    return result


def read_file(path: str | Path, *, codebook: Codebook | None = None) -> Codings:
    """One coding file as :class:`Codings`, its format told by suffix and header."""
    path = Path(path)
    src = str(path)
    suffix = path.suffix.lower()
    if suffix == ".qdpx":
        return _read_qdpx(path, {})
    if suffix not in (".csv", ".jsonl"):
        raise PrecodeInputError("codings must be .csv, .jsonl or .qdpx", source=src)
    text = read_text(path)
    if suffix == ".jsonl":
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            record = None  # read_excerpts reports it with its line
        if isinstance(record, dict) and "segment_id" in record and "suggestions" in record:
            return _read_precode_jsonl(text, src, codebook)
        return _read_excerpts(path, codebook)
    rows = list(_csv_rows(text))
    if not rows:
        raise PrecodeInputError("no rows", source=src)
    header = [h.strip().lower() for h in rows[0][1]]
    if {"segment_id", "codes"} <= set(header):
        return _read_precode_csv(rows, header, src, codebook)
    if {"text", "codes"} <= set(header):
        return _read_excerpts(path, codebook)
    if {"unit", "coder", "code"} <= set(header):
        return _read_long(rows, header, src, codebook)
    if "coder" in header or "code" in header:
        missing = ", ".join(c for c in ("unit", "coder", "code") if c not in header)
        raise PrecodeInputError(f"a long table needs the columns unit, coder and code; missing: "
                                f"{missing}", source=src, line=rows[0][0])
    if header and header[0] == "unit":
        return _read_wide(rows, src, codebook)
    for n, (_, row) in enumerate(rows[:10]):
        cells = [c.strip().lower() for c in row]
        if "claim id" in cells and "your code" in cells:
            return _read_sheet(rows[n:], cells, path, codebook)
    raise PrecodeInputError("unknown table: give columns unit,coder,code (long), unit then one "
                            "column per coder (wide), or text,codes (coded excerpts)",
                            source=src, line=1)


def read_ci_claims_annotators(folder: str | Path) -> Codings:
    """The two human annotation sheets of the ci_claims data set (``human_annotator_*.csv``):
    coders named by file stem, units the claim ids, texts the claims."""
    paths = sorted(Path(folder).glob("human_annotator_*.csv"))
    if not paths:
        raise PrecodeInputError("no human_annotator_*.csv files", source=str(folder))
    return read_codings(paths)


def _csv_rows(text: str) -> Iterable[tuple[int, list[str]]]:
    """``(line, cells)`` for every non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        if any(cell.strip() for cell in row):
            yield reader.line_num, row


def _split(cell: str) -> list[str]:
    return [c.strip() for c in cell.split(";") if c.strip()]


def _read_long(rows, header, src, codebook) -> Codings:
    col = {name: header.index(name) for name in ("unit", "coder", "code", "text") if name in header}
    out = Codings()
    for line, row in rows[1:]:
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in col.items()}
        for name in ("unit", "coder"):
            if not cells[name]:
                raise PrecodeInputError(f"empty {name}", source=src, line=line, field=name)
        out.add(cells["coder"], cells["unit"], _split(cells["code"]), source=src, line=line,
                codebook=codebook)
        if cells.get("text"):
            out.texts[cells["unit"]] = cells["text"]
    return out


def _read_wide(rows, src, codebook) -> Codings:
    header = [h.strip() for h in rows[0][1]]
    coders = {i: name for i, name in enumerate(header) if i > 0 and name.lower() != "text"}
    text_col = next((i for i, name in enumerate(header) if name.lower() == "text"), None)
    for i, name in coders.items():
        if not name:
            raise PrecodeInputError(f"column {i + 1} has no coder name", source=src, line=1)
    if len(set(coders.values())) != len(coders):
        raise PrecodeInputError("two columns have the same coder name", source=src, line=1)
    out = Codings()
    for line, row in rows[1:]:
        unit = row[0].strip()
        if not unit:
            raise PrecodeInputError("empty unit", source=src, line=line, field="unit")
        for i, coder in coders.items():
            cell = row[i].strip() if i < len(row) else NOT_SEEN
            if cell != NOT_SEEN:
                out.add(coder, unit, _split(cell), source=src, line=line, codebook=codebook)
        if text_col is not None and text_col < len(row) and row[text_col].strip():
            out.texts[unit] = row[text_col].strip()
    return out


def _read_sheet(rows, header, path: Path, codebook) -> Codings:
    """Annotation sheet: ``Claim ID`` and ``Your Code`` columns; rows without an id (titles,
    theme headers such as ``▸ Theme: Build Patterns``) are skipped."""
    src = str(path)
    unit_col, code_col = header.index("claim id"), header.index("your code")
    text_col = header.index("claim text") if "claim text" in header else None
    out = Codings()
    for line, row in rows[1:]:
        unit = row[unit_col].strip() if unit_col < len(row) else ""
        if not unit:
            continue
        code = row[code_col].strip() if code_col < len(row) else ""
        out.add(path.stem, unit, [code], source=src, line=line, codebook=codebook)
        if text_col is not None and text_col < len(row):
            out.texts[unit] = row[text_col].strip()
    if not out:
        raise PrecodeInputError("no coded claims under the header", source=src)
    return out


def _read_excerpts(path: Path, codebook) -> Codings:
    from corpus.excerpts import read_excerpts

    src = str(path)
    out = Codings()
    for ex in read_excerpts(path, codebook, coder=path.stem):
        unit = ex.id or ex.text
        out.add(ex.coder, unit, ex.codes, source=src)
        out.texts.setdefault(unit, ex.text)
        if ex.document is not None and ex.start is not None and ex.end is not None:
            out.see(ex.document, ex.end)
            for code in ex.codes:
                out.add_span(ex.coder, Span(ex.document, ex.start, ex.end, code))
    return out


def _add_precode_record(out: Codings, rec: dict, codes: list[str], src: str, line: int,
                        codebook) -> None:
    for key in ("document", "segment_id", "start", "end"):
        if rec.get(key) in (None, ""):
            raise PrecodeInputError(f"missing {key!r}", source=src, line=line, field=key)
    try:
        start, end = int(rec["start"]), int(rec["end"])
    except (TypeError, ValueError):
        raise PrecodeInputError("start and end must be whole numbers", source=src, line=line,
                                field="start") from None
    document, unit = str(rec["document"]), str(rec["segment_id"])
    out.see(document, end)
    if rec.get("coded", True) in (False, "false", "False"):
        return
    out.add(MODEL, unit, codes, source=src, line=line, codebook=codebook)
    out.texts.setdefault(unit, str(rec.get("text") or ""))
    for code in out[MODEL][unit]:
        out.add_span(MODEL, Span(document, start, end, code))


def _read_precode_jsonl(text: str, src: str, codebook) -> Codings:
    out = Codings()
    for line, rec in jsonl_objects(text, source=src):
        suggestions = rec.get("suggestions")
        if not isinstance(suggestions, list) or not all(
                isinstance(s, dict) and isinstance(s.get("code"), str) for s in suggestions):
            raise PrecodeInputError("needs 'suggestions': a list of objects with a 'code'",
                                    source=src, line=line, field="suggestions")
        _add_precode_record(out, rec, [s["code"] for s in suggestions], src, line, codebook)
    return out


def _read_precode_csv(rows, header, src, codebook) -> Codings:
    out = Codings()
    for line, row in rows[1:]:
        rec = dict(zip(header, (c.strip() for c in row), strict=False))
        _add_precode_record(out, rec, _split(rec.get("codes", "")), src, line, codebook)
    return out


def _read_qdpx(path: Path, names_by_text: dict[str, str] | None = None) -> Codings:
    """A REFI-QDA project: ``{user: {"document:start-end": codes}}``, each coding also a span
    (so ``--unit character`` works; as units, spans only match when the coders selected exactly
    the same characters), the documents' true lengths, and the code names as labels.

    Documents are matched by their text, not their name or GUID: two exports of one project
    (each program gives the sources new GUIDs, and people rename them) name a document as the
    first file that held its text did. ``names_by_text`` ``{text digest: name}`` carries that
    across the files of one comparison; a name already used for another text gets the file's
    stem added."""
    from corpus.refi import coder_name, document_names, read_qdpx

    src = str(path)
    project = read_qdpx(path, require_text=False)
    names_by_text = {} if names_by_text is None else names_by_text
    taken = set(names_by_text.values())
    docs = document_names(project)
    out = Codings()
    for guid, source in project.sources.items():
        if source.text is None:
            continue
        digest = hashlib.sha256(source.text.encode("utf-8")).hexdigest()
        if digest not in names_by_text:
            name = docs[guid] if docs[guid] not in taken else f"{docs[guid]} [{path.stem}]"
            names_by_text[digest] = name
            taken.add(name)
        docs[guid] = names_by_text[digest]
        out.set_length(docs[guid], len(source.text))
    if project.codebook is not None:
        out.labels.update({c.id: c.label for c in project.codebook if c.label})
    for c in project.codings:
        coder, document = coder_name(project, c.user_guid), docs[c.source_guid]
        unit = f"{document}:{c.start}-{c.end}"
        out.add(coder, unit, [c.code_id], source=src)
        out.add_span(coder, Span(document, c.start, c.end, c.code_id))
    return out
