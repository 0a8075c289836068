"""Benchmark datasets: the seed corpus and the ci_claims reference dataset (shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

from corpus.codebook import Code, Codebook, slug
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt


def default_ci_claims_dir() -> Path:
    """``../shared/data/ci_claims`` beside the checkout (where the project keeps reference data)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "ci_claims"


def load_ci_claims(folder: str | Path | None = None) -> tuple[list[Excerpt], Codebook]:
    """The 113 gold-coded claims and a two-level codebook (6 themes, 31 codes).

    The dataset names its codes but does not define them, so each code's definition is its own
    name: all a model can learn from is the coded examples.
    """
    folder = Path(folder) if folder else default_ci_claims_dir()
    path = folder / "02_dataset_gold_CI.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PrecodeInputError("ci_claims gold file not found", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise PrecodeInputError(f"invalid JSON: {exc.msg}", source=str(path), line=exc.lineno
                                ) from None
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
