"""Output formats of ``precode code``, by name.

Every writer takes ``(records, out, suggester, sources=...)``: the per-segment records in input
order, the output path, the model, and each document's input file.
"""

from __future__ import annotations

from pathlib import Path

from corpus.errors import PrecodeInputError
from service.batch import write_csv, write_jsonl
from service.names import MODEL_USER
from service.report_html import write_html


def document_text(path: Path, records: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The text a CAQDAS package should import for one document, and each record's span in it.

    Transcripts keep their original text and offsets. Ready-made segment tables have no
    surrounding text, so their segments are joined with blank lines and offsets shifted.
    """
    from corpus.transcripts import TABLE_SUFFIXES, read_transcript

    if path.suffix.lower() not in TABLE_SUFFIXES:
        return read_transcript(path).text, [(r["start"], r["end"]) for r in records]
    spans, pos = [], 0
    for r in records:
        spans.append((pos, pos + len(r["text"])))
        pos += len(r["text"]) + 2
    return "\n\n".join(r["text"] for r in records), spans


def describe(suggestions: list[dict]) -> str:
    """A selection's description: each code's confidence and its nearest evidence."""
    parts = []
    for s in suggestions:
        lines = [f"{s['label']} ({s['code']}): confidence {s['confidence']:.2f}, "
                 f"threshold {s['threshold']:.2f}"]
        lines += [f"  like ({e['similarity']:.2f}): {e['text']}" for e in s["evidence"]]
        parts.append("\n".join(lines))
    return "Suggested by precode, not yet reviewed.\n" + "\n".join(parts)


def write_qdpx_records(records: list[dict], out: Path, suggester, *, sources: dict[str, Path],
                       **_) -> None:
    """A REFI-QDA project: the transcripts as text sources, the model's codebook, and one
    selection per segment with a suggestion, coded by the user "precode model" (a subtitle
    segment's media time first in its description). Pre-coding a .qdpx project gives that
    project with the model's codings added (``corpus.refi_update``)."""
    from corpus.refi import write_qdpx

    by_doc: dict[str, list[dict]] = {}
    for r in records:
        by_doc.setdefault(r["document"], []).append(r)
    projects = {p for p in sources.values() if p.suffix.lower() == ".qdpx"}
    if projects:
        from corpus.refi_update import add_codings

        if len(projects) > 1 or len(set(sources.values())) > 1:
            raise PrecodeInputError("a .qdpx project is pre-coded on its own: give it as the "
                                    "only input", field="INPUTS")
        add_codings(projects.pop(), out, [
            {"document": r["document"], "start": r["start"], "end": r["end"],
             "codes": [s["code"] for s in r["suggestions"]], "description":
                 describe(r["suggestions"])} for r in records if r["suggestions"]],
            codebook=suggester.codebook, user=MODEL_USER)
        return
    documents, codings = [], []
    for name, recs in by_doc.items():
        text, spans = document_text(sources[name], recs)
        documents.append((name, text))
        for r, (start, end) in zip(recs, spans, strict=True):
            if r["suggestions"]:
                codings.append({"document": name, "start": start, "end": end,
                                "codes": [s["code"] for s in r["suggestions"]],
                                "user": MODEL_USER, "description": describe(r["suggestions"]),
                                **{k: r[k] for k in ("time_start", "time_end") if k in r}})
    write_qdpx(out, codebook=suggester.codebook, documents=documents, codings=codings)


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "html": write_html, "qdpx": write_qdpx_records}
