"""Codebooks by name or file: the built-in ones, YAML, CSV, REFI-QDA ``.qdc`` and the codebook of a
``.qdpx`` project. Stands above ``corpus.codebook`` and ``corpus.refi`` so that neither imports the
other to dispatch on a file's type."""

from __future__ import annotations

from pathlib import Path

from corpus.codebook import Codebook, builtin_names, builtin_path, read_csv, read_qdc, read_yaml
from corpus.errors import CodebookError
from corpus.refi import read_qdpx_codebook


def load_codebook(name_or_path: str | Path) -> Codebook:
    """Load a built-in codebook by name (``npt``) or a file: ``.yaml``/``.yml``, ``.csv``, ``.qdc``."""
    text = str(name_or_path)
    if text in builtin_names():
        return read_yaml(builtin_path(text))
    path = Path(name_or_path)
    if not path.exists():
        raise CodebookError(f"no such file, and not a built-in codebook ({', '.join(builtin_names())})",
                            source=text)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return read_yaml(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".qdc":
        return read_qdc(path)
    if suffix == ".qdpx":
        return read_qdpx_codebook(path)
    raise CodebookError("unknown codebook format (use .yaml, .csv or .qdc)", source=text)


def load_codebooks(spec: str | list[str]) -> Codebook:
    """``"npt,integrating"`` or a list of names/paths, combined into one codebook."""
    parts = spec if isinstance(spec, list) else [s.strip() for s in spec.split(",") if s.strip()]
    if not parts:
        raise CodebookError("no codebook given", field="codebook")
    return Codebook.combine([load_codebook(p) for p in parts])
