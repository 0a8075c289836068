"""Training data from a CAQDAS project (.qdpx): one user's codings, plus the text they left
uncoded as examples of "no code"."""

from __future__ import annotations

from pathlib import Path

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from corpus.excerpts import Excerpt


def excerpts_from_project(path: str | Path, *, coder: str | None, codebook: Codebook | None = None,
                          min_chars: int = 40) -> tuple[list[Excerpt], Codebook]:
    """That coder's coded spans, and the paragraphs of the same sources that they coded nowhere.

    ``coder`` may be omitted only when the project has a single user with codings.
    """
    from corpus.refi import document_names, project_excerpts, read_qdpx
    from corpus.segmentation import segment_transcript
    from corpus.transcripts import parse_text

    path = Path(path)
    project = read_qdpx(path)
    coders = sorted({e.coder for e in project_excerpts(project)})
    if coder is None:
        if len(coders) != 1:
            raise PrecodeInputError(f"say whose codings to learn from with --coder (users with "
                                    f"codings: {', '.join(coders) or 'none'})", source=str(path))
        coder = coders[0]
    coded = project_excerpts(project, coder=coder)
    book = codebook or project.codebook
    if book is None:
        raise PrecodeInputError("the project has no codebook", source=str(path))
    unknown = sorted({c for e in coded for c in e.codes if c not in book})
    if unknown:
        raise PrecodeInputError(f"codes of {coder} not in the codebook: {', '.join(unknown[:8])}",
                                source=str(path))
    spans: dict[str, list[tuple[int, int]]] = {}
    for e in coded:
        spans.setdefault(e.document, []).append((e.start, e.end))
    uncoded = []
    for guid, name in document_names(project).items():
        source = project.sources[guid]
        if not source.text or name not in spans:
            continue  # a source this coder never coded says nothing about "no code"
        transcript = parse_text(source.text, document=name)
        for seg in segment_transcript(transcript, unit="paragraph", min_chars=min_chars):
            if seg.is_interviewer or len(seg.text) < min_chars:
                continue
            if all(seg.end <= s or seg.start >= e for s, e in spans[name]):
                uncoded.append(Excerpt(text=seg.text, coder=coder, document=name,
                                       start=seg.start, end=seg.end))
    if not coded:
        raise PrecodeInputError(f"{coder} has no codings with text in this project",
                                source=str(path))
    return coded + uncoded, book
