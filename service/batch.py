"""Batch pre-coding: transcripts (files or folders) in, one record per segment out.

Each document's records are first written to ``OUT.parts/`` (one file per document, written whole),
so an interrupted run resumes where it stopped; the output file is assembled in input order at the
end and is the same as an uninterrupted run would have written.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import PrecodeInputError
from corpus.excerpts import CONTEXT, context_meta
from corpus.segment import contexts_for
from corpus.transcripts import media_clock

READABLE = (".txt", ".docx", ".vtt", ".srt", ".csv", ".jsonl", ".qdpx")


@dataclass
class PrecodeOptions:
    """How to pre-code: the unit, which turns, and what to keep of the suggestions."""

    unit: str = "turn"
    min_confidence: float | None = None
    include_interviewer: bool = False
    all_scores: bool = False
    top_k: int | None = None
    n_evidence: int = 3

    def fingerprint(self, model_id: str) -> str:
        blob = json.dumps([model_id, self.__dict__], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class Summary:
    documents: int = 0
    segments: int = 0
    coded_segments: int = 0
    with_suggestion: int = 0
    per_code: Counter = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)
    resumed: int = 0

    def add_document(self, records: list[dict], path: Path, sources: dict[str, Path]) -> None:
        """Count one document's records, and note which input file each document came from."""
        self.documents += 1
        for r in records:
            sources.setdefault(r["document"], path)
            self.segments += 1
            self.coded_segments += r["coded"]
            if r["suggestions"]:
                self.with_suggestion += 1
                self.per_code.update(s["code"] for s in r["suggestions"])


def collect_inputs(paths: list[Path]) -> list[tuple[Path, str]]:
    """Readable files with their document names; folders are searched recursively."""
    out: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                if f.suffix.lower() in READABLE and not f.name.startswith("."):
                    out.append((f, f.relative_to(path).as_posix()))
        elif path.exists():
            out.append((path, path.name))
        else:
            raise PrecodeInputError("no such file or folder", source=str(path))
    names = Counter(name for _, name in out)
    return [(p, str(p) if names[name] > 1 else name) for p, name in out]


# Coded segments per call of the model. The encoder's numbers depend (in the last bits) on which
# texts share a call, so every engine cuts a document's coded segments at the same places.
SUGGEST_CHUNK = 256


def segment_records(path: Path, document: str, options: PrecodeOptions) -> list[dict]:
    """Every segment's record, suggestions still empty; interviewer turns are kept but not coded
    unless ``include_interviewer``. Ready-made segment tables keep their own ids and documents.

    A record's ``context`` is the question its text answers, which a model trained with contexts
    reads: a segment table's own ``context`` column, else the interviewer turn before it."""
    from corpus.segmentation import load_segments

    segments = load_segments(path, unit=options.unit, document=document)
    records = [{"document": seg.document, "segment_id": seg.id, "start": seg.start,
                "end": seg.end, "speaker": seg.speaker, "text": seg.text,
                "interviewer": seg.is_interviewer,
                "coded": options.include_interviewer or not seg.is_interviewer,
                "suggestions": [], **_times(seg)} for seg in segments]
    asked = contexts_for(segments)
    for i, rec in enumerate(records):
        rec.update(context_meta(asked.get(i)))
    return records


def _times(seg) -> dict:
    """A subtitle segment's media time in seconds (``time_start``, ``time_end``); nothing for
    untimed text."""
    return {k: seg.meta[k] for k in ("time_start", "time_end") if k in seg.meta}


def suggest_records(records: list[dict], suggester, options: PrecodeOptions, *,
                    chunk: int | None = SUGGEST_CHUNK) -> list[dict]:
    """Fill in the coded records' suggestions (in place), ``chunk`` at a time (None: at once)."""
    coded = [r for r in records if r["coded"]]
    step = chunk or max(1, len(coded))
    for i in range(0, len(coded), step):
        part = coded[i:i + step]
        results = suggester.suggest([r["text"] for r in part],
                                    contexts=[r.get(CONTEXT) for r in part],
                                    min_confidence=options.min_confidence, top_k=options.top_k,
                                    n_evidence=options.n_evidence, all_scores=options.all_scores)
        for rec, res in zip(part, results, strict=True):
            rec["suggestions"] = [s.to_dict() for s in res.suggestions]
            if res.scores is not None:
                rec["scores"] = res.scores
    return records


def code_document(path: Path, document: str, suggester, options: PrecodeOptions) -> list[dict]:
    """Records for every segment of one file (see ``segment_records``), with suggestions."""
    return suggest_records(segment_records(path, document, options), suggester, options)


def run_batch(inputs: list[Path], out: Path, suggester, options: PrecodeOptions, *,
              writer: Callable[..., None],
              on_document: Callable[[str, int], None] | None = None,
              on_error: Callable[[str, str], None] | None = None,
              files: list[tuple[Path, str]] | None = None) -> Summary:
    """Code every input document, resuming from ``OUT.parts/`` when it exists; then write OUT.

    ``files`` is ``collect_inputs(inputs)`` when the caller has already collected them."""
    files = files if files is not None else collect_inputs(inputs)
    parts = open_parts(out, options, suggester.manifest, suggester.path)
    summary = Summary()
    all_records: list[dict] = []
    sources: dict[str, Path] = {}
    for path, document in files:
        part = part_file(parts, document)
        if part.exists():
            records = read_part(part)
            summary.resumed += 1
        else:
            try:
                records = code_document(path, document, suggester, options)
            except PrecodeInputError as exc:
                summary.failed.append((str(path), exc.reason if hasattr(exc, "reason") else
                                       str(exc)))
                if on_error:
                    on_error(str(path), str(exc))
                continue
            write_part(part, records)
        summary.add_document(records, path, sources)
        all_records.extend(records)
        if on_document:
            on_document(document, len(records))
    if summary.documents or not summary.failed:  # nothing read: no empty output
        writer(all_records, out, suggester, sources=sources)
    shutil.rmtree(parts, ignore_errors=True)
    return summary


def open_parts(out: Path, options: PrecodeOptions, manifest: dict, model_path) -> Path:
    """The folder beside ``out`` that keeps each finished document's records until the output is
    written, so that a rerun resumes; emptied when the options or the model changed."""
    parts = out.with_name(out.name + ".parts")
    stamp = parts / "settings.json"
    fingerprint = options.fingerprint(str(manifest.get("training_data_hash")) + str(model_path))
    if parts.exists():
        old = json.loads(stamp.read_text()) if stamp.exists() else {}
        if old.get("fingerprint") != fingerprint:
            shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"fingerprint": fingerprint}))
    return parts


def part_file(parts: Path, document: str) -> Path:
    """Where a document's records wait (one name for every engine, so either resumes the
    other's run)."""
    return parts / (hashlib.sha256(document.encode()).hexdigest()[:16] + ".jsonl")


def read_part(part: Path) -> list[dict]:
    return [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]


def write_part(part: Path, records: list[dict]) -> None:
    tmp = part.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                   encoding="utf-8")
    tmp.replace(part)


def write_jsonl(records: list[dict], out: Path, suggester=None, **_) -> None:
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out)


def write_csv(records: list[dict], out: Path, suggester=None, **_) -> None:
    """One row per segment: the suggested codes and their confidences, ``;``-separated; last, the
    question the segment answers (``context``: a segment table's own, or the interviewer turn
    before it)."""
    import csv

    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["document", "segment_id", "start", "end", "speaker", "text", "codes",
                    "confidences", "time_start", "time_end", CONTEXT])
        for r in records:
            w.writerow([r["document"], r["segment_id"], r["start"], r["end"], r["speaker"] or "",
                        r["text"], ";".join(s["code"] for s in r["suggestions"]),
                        ";".join(f"{s['confidence']:.3f}" for s in r["suggestions"]),
                        *(media_clock(r.get(k)) for k in ("time_start", "time_end")),
                        r.get(CONTEXT) or ""])
    tmp.replace(out)
