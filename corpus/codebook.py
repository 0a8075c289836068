"""Codebooks: trees of codes with definitions, read from and written to YAML, CSV and REFI-QDA .qdc.

A code's ``id`` spells its path (``npt.coherence.differentiation``). Its parent is the code named
by an explicit ``parent`` field, else the code it is nested under in YAML, else the longest dotted
prefix of its id that is itself a code. Ids may hold letters of any script (``sárga``), digits and
``_ - .``. Loading validates the whole tree and raises :class:`~corpus.errors.CodebookError` naming
the file and the code. A code without a definition is accepted: its name stands in for the
definition and :attr:`Codebook.warnings` says so. Wherever a code is named, its id or its label
will do (:meth:`Codebook.resolve`).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml

from corpus.errors import CodebookError
from corpus.textio import read_bytes, read_text
from corpus.xmlsafe import parse_xml

QDC_NS = "urn:QDA-XML:codebook:1.0"
GUID_NAMESPACE = uuid.UUID("5c1c7a1e-6c0d-4d0e-9a43-707265636f64")  # stable GUIDs per code id
CSV_COLUMNS = ["id", "label", "definition", "include", "exclude"]
CSV_OPTIONAL = ["parent", "examples"]
_ID_RE = re.compile(r"^\w[\w\-.]*$")  # \w: letters and digits of any script, and _


@dataclass
class Code:
    """One code of a codebook."""

    id: str
    label: str
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: list[str] = field(default_factory=list)
    parent: str | None = None
    codable: bool = True
    color: str | None = None
    guid: str | None = None


@dataclass
class Codebook:
    """An ordered tree of codes. Build it with :func:`load_codebook` or :meth:`from_codes`."""

    id: str
    label: str
    codes: dict[str, Code]
    description: str = ""
    version: str = ""
    source: str | None = None
    warnings: list[str] = field(default_factory=list, compare=False)

    # ---- tree access -------------------------------------------------------------------------
    def __contains__(self, code_id: object) -> bool:
        return code_id in self.codes

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes.values())

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, code_id: str) -> Code:
        return self.codes[code_id]

    def roots(self) -> list[Code]:
        return [c for c in self.codes.values() if c.parent is None]

    def children(self, code_id: str) -> list[Code]:
        return [c for c in self.codes.values() if c.parent == code_id]

    def ancestors(self, code_id: str) -> list[str]:
        """Parent, grandparent, ... of a code (nearest first)."""
        out, parent = [], self.codes[code_id].parent
        while parent is not None:
            out.append(parent)
            parent = self.codes[parent].parent
        return out

    def descendants(self, code_id: str) -> list[str]:
        out = []
        for child in self.children(code_id):
            out.append(child.id)
            out.extend(self.descendants(child.id))
        return out

    def leaves(self) -> list[Code]:
        parents = {c.parent for c in self.codes.values()}
        return [c for c in self.codes.values() if c.id not in parents]

    def depth(self, code_id: str) -> int:
        return len(self.ancestors(code_id))

    def walk(self) -> Iterator[Code]:
        """Codes in tree order: each parent followed by its subtree."""
        def visit(code: Code) -> Iterator[Code]:
            yield code
            for child in self.children(code.id):
                yield from visit(child)

        for root in self.roots():
            yield from visit(root)

    def rollup(self, code_ids: Iterable[str]) -> set[str]:
        """The codes plus all their ancestors (a construct is present when a sub-code is)."""
        out = set()
        for cid in code_ids:
            out.add(cid)
            out.update(self.ancestors(cid))
        return out

    def resolve(self, name: str) -> str | None:
        """The id of the code ``name`` names: its id, else its label (case, spacing and Unicode
        form ignored) or the id made from it, when exactly one code has it; else None."""
        name = unicodedata.normalize("NFC", str(name)).strip()
        if name in self.codes:
            return name
        key = _label_key(name)
        found = [c.id for c in self.codes.values() if _label_key(c.label) == key]
        if len(found) == 1:
            return found[0]
        made = slug(name)
        found = [c.id for c in self.codes.values() if c.id == made or
                 c.id.rsplit(".", 1)[-1] == made]
        return found[0] if len(found) == 1 else None

    def guid_of(self, code_id: str) -> str:
        code = self.codes[code_id]
        return code.guid or str(uuid.uuid5(GUID_NAMESPACE, f"{self.id}/{code_id}"))

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def from_codes(cls, codes: Iterable[Code], *, id: str, label: str | None = None,
                   description: str = "", version: str = "", source: str | None = None
                   ) -> Codebook:
        """Build and validate a codebook. Parents left empty are inferred from dotted ids."""
        src = source or id
        table: dict[str, Code] = {}
        for code in codes:
            if not code.id or not _ID_RE.match(code.id):
                raise CodebookError(f"invalid code id {code.id!r} (letters, digits, _ - . only)",
                                    source=src, field=code.id or "id")
            if code.id in table:
                raise CodebookError("duplicate code id", source=src, field=code.id)
            table[code.id] = code
        for code in table.values():
            if code.parent is None and "." in code.id:
                prefix = code.id
                while "." in prefix:
                    prefix = prefix.rsplit(".", 1)[0]
                    if prefix in table:
                        code.parent = prefix
                        break
        book = cls(id=id, label=label or id, codes=table, description=description,
                   version=version, source=source)
        book.validate()
        return book

    def validate(self) -> None:
        src = self.source or self.id
        if not self.codes:
            raise CodebookError("the codebook has no codes", source=src)
        for code in self.codes.values():
            if code.parent is not None and code.parent not in self.codes:
                raise CodebookError(f"parent {code.parent!r} does not exist", source=src,
                                    field=code.id)
            if not code.label.strip():
                raise CodebookError("empty label", source=src, field=code.id)
        undefined = [c for c in self.codes.values() if c.codable and not c.definition.strip()]
        for code in undefined:
            code.definition = code.label
        if undefined:
            names = ", ".join(c.id for c in undefined[:10])
            more = f" and {len(undefined) - 10} more" if len(undefined) > 10 else ""
            self.warnings.append(f"{src}: {len(undefined)} code(s) without a definition use "
                                 f"their name instead: {names}{more}")
        for code in self.codes.values():
            seen = [code.id]
            parent = code.parent
            while parent is not None:
                if parent in seen:
                    cycle = " -> ".join([*seen, parent])
                    raise CodebookError(f"parent cycle: {cycle}", source=src, field=code.id)
                seen.append(parent)
                parent = self.codes[parent].parent

    @staticmethod
    def combine(books: list[Codebook]) -> Codebook:
        """Several codebooks as one (ids must not clash)."""
        if len(books) == 1:
            return books[0]
        codes = [replace(c, examples=list(c.examples)) for b in books for c in b]
        name = "+".join(b.id for b in books)
        book = Codebook.from_codes(codes, id=name, label=" + ".join(b.label for b in books),
                                   description="\n\n".join(b.description for b in books if
                                                           b.description),
                                   source=name)
        book.warnings = [w for b in books for w in b.warnings]
        return book


# ---- loading ----------------------------------------------------------------------------------
def builtin_names() -> list[str]:
    folder = resources.files("corpus") / "codebooks"
    return sorted(p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_path(name: str) -> Path:
    return Path(str(resources.files("corpus") / "codebooks" / f"{name}.yaml"))


def _as_text(value, src: str, code_id: str, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    raise CodebookError(f"{key!r} must be text", source=src, field=code_id)


def read_yaml(path: str | Path) -> Codebook:
    path = Path(path)
    src = str(path)
    try:
        data = yaml.safe_load(read_text(path, error=CodebookError))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CodebookError(f"invalid YAML: {problem}", source=src, line=line) from exc
    if isinstance(data, list):
        data = {"codes": data}
    if not isinstance(data, dict) or not isinstance(data.get("codes"), list):
        raise CodebookError("expected a mapping with a 'codes' list", source=src)
    codes: list[Code] = []

    def visit(items, parent: str | None) -> None:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise CodebookError(f"code #{i + 1} under {parent or 'the root'} is not a mapping",
                                    source=src)
            cid = _as_text(item.get("id"), src, f"code #{i + 1}", "id")
            if not cid:
                raise CodebookError(f"code #{i + 1} under {parent or 'the root'} has no id",
                                    source=src, field="id")
            unknown = set(item) - {"id", "label", "definition", "include", "exclude", "examples",
                                   "children", "parent", "codable", "color", "guid"}
            if unknown:
                raise CodebookError(f"unknown field(s) {', '.join(sorted(unknown))}", source=src,
                                    field=cid)
            examples = item.get("examples") or []
            if isinstance(examples, str):
                examples = [examples]
            if not isinstance(examples, list):
                raise CodebookError("'examples' must be a list of texts", source=src, field=cid)
            children = item.get("children") or []
            if not isinstance(children, list):
                raise CodebookError("'children' must be a list", source=src, field=cid)
            explicit = _as_text(item.get("parent"), src, cid, "parent") or None
            codes.append(Code(
                id=cid,
                label=_as_text(item.get("label"), src, cid, "label") or cid,
                definition=_as_text(item.get("definition"), src, cid, "definition"),
                include=_as_text(item.get("include"), src, cid, "include"),
                exclude=_as_text(item.get("exclude"), src, cid, "exclude"),
                examples=[_as_text(e, src, cid, "examples") for e in examples],
                parent=explicit or parent,
                codable=bool(item.get("codable", True)),
                color=item.get("color"),
                guid=item.get("guid"),
            ))
            visit(children, cid)

    visit(data["codes"], None)
    return Codebook.from_codes(codes, id=str(data.get("id") or path.stem),
                               label=str(data.get("label") or data.get("id") or path.stem),
                               description=str(data.get("description") or "").strip(),
                               version=str(data.get("version") or ""), source=src)


def to_yaml(book: Codebook) -> str:
    def node(code: Code) -> dict:
        out: dict = {"id": code.id, "label": code.label, "definition": code.definition}
        for key in ("include", "exclude"):
            if getattr(code, key):
                out[key] = getattr(code, key)
        if code.examples:
            out["examples"] = list(code.examples)
        if not code.codable:
            out["codable"] = False
        if code.color:
            out["color"] = code.color
        kids = book.children(code.id)
        if kids:
            out["children"] = [node(k) for k in kids]
        return out

    doc = {"id": book.id, "label": book.label}
    if book.version:
        doc["version"] = book.version
    if book.description:
        doc["description"] = book.description
    doc["codes"] = [node(r) for r in book.roots()]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


# ---- CSV --------------------------------------------------------------------------------------
def read_csv(path: str | Path) -> Codebook:
    path = Path(path)
    src = str(path)
    reader = csv.DictReader(io.StringIO(read_text(path, error=CodebookError), newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    # other programs' names for the columns (Taguette: tag, description); a missing id is made
    # from the label, a missing label is the id, a missing definition the label
    for ours, theirs in (("label", ("name", "tag", "code", "path")),
                         ("definition", ("description", "memo"))):
        if ours not in header:
            header = [ours if h == next((t for t in theirs if t in header), None) else h
                      for h in header]
    if "id" not in header and "label" not in header:
        raise CodebookError(f"missing column id or label; expected {','.join(CSV_COLUMNS)}",
                            source=src, line=1)
    reader.fieldnames = header
    codes = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise CodebookError("more fields than columns", source=src, line=line)
        values = {k: (v or "").strip() for k, v in row.items()}
        if not any(values.values()):
            continue
        if not values.get("id"):
            if not values.get("label"):
                raise CodebookError("empty id", source=src, line=line, field="id")
            values["id"] = slug(values["label"])
        examples = [e.strip() for e in values.get("examples", "").split("|") if e.strip()]
        codes.append(Code(id=values["id"], label=values.get("label") or values["id"],
                          definition=values.get("definition", ""),
                          include=values.get("include", ""),
                          exclude=values.get("exclude", ""), examples=examples,
                          parent=values.get("parent") or None))
    return Codebook.from_codes(codes, id=path.stem, source=src)


def to_csv(book: Codebook) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + CSV_OPTIONAL)
    for c in book.walk():
        writer.writerow([c.id, c.label, c.definition, c.include, c.exclude, c.parent or "",
                         " | ".join(c.examples)])
    return buf.getvalue()


# ---- REFI-QDA .qdc ----------------------------------------------------------------------------
_DESC_KEYS = {"include": "Include:", "exclude": "Exclude:", "example": "Example:",
              "id": "precode id:"}


def description_of(code: Code) -> str:
    """The REFI-QDA <Description> text precode writes for a code (and reads back)."""
    parts = [code.definition]
    if code.include:
        parts.append(f"{_DESC_KEYS['include']} {code.include}")
    if code.exclude:
        parts.append(f"{_DESC_KEYS['exclude']} {code.exclude}")
    parts.extend(f"{_DESC_KEYS['example']} {e}" for e in code.examples)
    parts.append(f"{_DESC_KEYS['id']} {code.id}")
    return "\n".join(p for p in parts if p)


def parse_description(text: str) -> dict:
    out = {"definition": [], "include": "", "exclude": "", "examples": [], "id": None}
    for line in (text or "").splitlines():
        stripped = line.strip()
        if stripped.startswith(_DESC_KEYS["include"]):
            out["include"] = stripped[len(_DESC_KEYS["include"]):].strip()
        elif stripped.startswith(_DESC_KEYS["exclude"]):
            out["exclude"] = stripped[len(_DESC_KEYS["exclude"]):].strip()
        elif stripped.startswith(_DESC_KEYS["example"]):
            out["examples"].append(stripped[len(_DESC_KEYS["example"]):].strip())
        elif stripped.startswith(_DESC_KEYS["id"]):
            out["id"] = stripped[len(_DESC_KEYS["id"]):].strip()
        else:
            out["definition"].append(line)
    out["definition"] = "\n".join(out["definition"]).strip()
    return out


def _label_key(label: str) -> str:
    return " ".join(unicodedata.normalize("NFC", label).casefold().split())


def slug(name: str) -> str:
    """An id made from a name: lower case, letters of any script kept (``Sárga`` -> ``sárga``),
    every run of other characters one ``_``."""
    s = re.sub(r"[\W_]+", "_", unicodedata.normalize("NFC", name).strip().lower()).strip("_")
    return s or "code"


def codes_from_refi(codes_el, *, ns: str, src: str) -> list[Code]:
    """Codes from a REFI-QDA <Codes> element (shared by .qdc and .qdpx readers).

    Codes written by precode keep their id (from the description); others get a dotted id from
    their names, e.g. ``topics.health_care``. Uncodable folders may lack a description.
    """
    out: list[Code] = []
    used: set[str] = set()

    def visit(el, parent: Code | None) -> None:
        for child in el.findall(f"{{{ns}}}Code"):
            name = (child.get("name") or "").strip()
            guid = (child.get("guid") or "").strip()
            if not name or not guid:
                raise CodebookError("a <Code> lacks its name or guid attribute", source=src,
                                    field=name or guid or "Code")
            desc_el = child.find(f"{{{ns}}}Description")
            parsed = parse_description(desc_el.text if desc_el is not None else "")
            cid = parsed["id"] or (f"{parent.id}.{slug(name)}" if parent else slug(name))
            base, n = cid, 2
            while cid in used:
                cid, n = f"{base}_{n}", n + 1
            used.add(cid)
            codable = (child.get("isCodable") or "true").strip().lower() in ("true", "1")
            code = Code(id=cid, label=name, definition=parsed["definition"],
                        include=parsed["include"], exclude=parsed["exclude"],
                        examples=parsed["examples"], parent=parent.id if parent else None,
                        codable=codable, color=child.get("color"), guid=guid)
            out.append(code)
            visit(child, code)

    visit(codes_el, None)
    return out


def read_qdc(path: str | Path) -> Codebook:
    path = Path(path)
    src = str(path)
    root = parse_xml(read_bytes(path, error=CodebookError), source=src, error=CodebookError)
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if root.tag.rsplit("}", 1)[-1] != "CodeBook":
        raise CodebookError(f"root element is <{root.tag.rsplit('}', 1)[-1]}>, not <CodeBook>",
                            source=src)
    codes_el = root.find(f"{{{ns}}}Codes") if ns else root.find("Codes")
    if codes_el is None:
        raise CodebookError("no <Codes> element", source=src)
    codes = codes_from_refi(codes_el, ns=ns, src=src) if ns else []
    return Codebook.from_codes(codes, id=path.stem, label=root.get("origin") or path.stem,
                               source=src)


def to_qdc(book: Codebook, *, origin: str = "precode") -> bytes:
    """A REFI-QDA codebook (.qdc) that validates against Codebook.xsd."""
    from xml.sax.saxutils import quoteattr

    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<CodeBook xmlns="{QDC_NS}" origin={quoteattr(origin)}>', "<Codes>"]
    lines.extend(code_elements(book))
    lines += ["</Codes>", "</CodeBook>", ""]
    return "\n".join(lines).encode("utf-8")


def code_elements(book: Codebook) -> list[str]:
    """The <Code> elements of a codebook as XML lines (shared with the .qdpx writer)."""
    from xml.sax.saxutils import escape, quoteattr

    out: list[str] = []

    def visit(code: Code, indent: str) -> None:
        attrs = (f'guid="{book.guid_of(code.id)}" name={quoteattr(code.label)} '
                 f'isCodable="{"true" if code.codable else "false"}"')
        if code.color and re.fullmatch(r"#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})", code.color):
            attrs += f' color="{code.color}"'
        out.append(f"{indent}<Code {attrs}>")
        out.append(f"{indent}  <Description>{escape(description_of(code))}</Description>")
        for child in book.children(code.id):
            visit(child, indent + "  ")
        out.append(f"{indent}</Code>")

    for root in book.roots():
        visit(root, "  ")
    return out
