"""Cutting a transcript into segments: by turn, paragraph or sentence.

Every segment is a span of the original text: ``transcript.text[seg.start:seg.end] == seg.text``.
Whitespace is trimmed by moving the offsets, never by changing the text. A segment never spans two
speakers: fragments shorter than ``min_chars`` join a neighbour of the same speaker (for ``"turn"``
the next or previous turn of that speaker, for ``"paragraph"`` and ``"sentence"`` a neighbour in
the same turn), and stay alone where there is none. Two turns merged this way make one span that
includes whatever lies between them in the text (a timestamp line, a repeated label). Segments
longer than ``max_chars`` are split at sentence ends, or at whitespace where a single sentence is
too long (and hard at ``max_chars`` where there is no whitespace).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from corpus.errors import TranscriptError
from corpus.segment import Segment
from corpus.transcripts import (
    TABLE_SUFFIXES,
    TRANSCRIPT_SUFFIXES,
    Transcript,
    is_interviewer_label,
    parse_text,
    read_segments_table,
    read_transcript,
)

UNITS = ("turn", "paragraph", "sentence")

Span = tuple[int, int]

_BLANK_LINES = re.compile(r"(?:\r\n|\r|\n)(?:[^\S\r\n]*(?:\r\n|\r|\n))+")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "prof", "st", "e.g", "i.e", "eg", "ie", "cf", "vs", "approx", "no",
     "nb", "fig", "dept", "jr", "sr"})


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut(text: str, start: int, end: int, cuts: Iterable[int]) -> list[Span]:
    """The non-empty trimmed spans between ``cuts`` (positions inside ``start..end``)."""
    spans, pos = [], start
    for cut in [*cuts, end]:
        s, e = _trim(text, pos, cut)
        if s < e:
            spans.append((s, e))
        pos = cut
    return spans


def _paragraphs(text: str, start: int, end: int) -> list[Span]:
    return _cut(text, start, end, (m.end() for m in _BLANK_LINES.finditer(text, start, end)))


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    word = text[start:dot].split()[-1] if text[start:dot].split() else ""
    word = word.lstrip("\"'“‘([").casefold()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _sentences(text: str, start: int, end: int) -> list[Span]:
    cuts = [m.end() for m in _SENTENCE_END.finditer(text, start, end)
            if not (text[m.start():m.end()].rstrip("\"'”’)]") == "."
                    and _is_abbreviation(text, max(start, m.start() - 20), m.start()))]
    return _cut(text, start, end, cuts)


def _words(text: str, start: int, end: int, max_chars: int) -> list[Span]:
    """Split at the last whitespace before ``max_chars`` (hard cut where there is none)."""
    out = []
    while end - start > max_chars:
        cut = start + max_chars
        while cut > start and not text[cut].isspace():
            cut -= 1
        if cut == start:
            cut = start + max_chars
        out.append(_trim(text, start, cut))
        start, _ = _trim(text, cut, end)
    out.append((start, end))
    return out


def _split_long(text: str, span: Span, max_chars: int) -> list[Span]:
    start, end = span
    if end - start <= max_chars:
        return [span]
    parts = []
    for s, e in _sentences(text, start, end):
        parts.extend(_words(text, s, e, max_chars) if e - s > max_chars else [(s, e)])
    chunks: list[Span] = []
    for s, e in parts:
        if chunks and e - chunks[-1][0] <= max_chars:
            chunks[-1] = (chunks[-1][0], e)
        else:
            chunks.append((s, e))
    return chunks


def _merge_short(spans: list[Span], min_chars: int) -> list[Span]:
    out: list[Span] = []
    for s, e in spans:
        if out and out[-1][1] - out[-1][0] < min_chars:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    if len(out) > 1 and out[-1][1] - out[-1][0] < min_chars:
        last = out.pop()
        out[-1] = (out[-1][0], last[1])
    return out


def segment_transcript(transcript: Transcript, *, unit: str = "turn", min_chars: int = 40,
                       max_chars: int = 1200,
                       interviewer_labels: Iterable[str] | None = None) -> list[Segment]:
    """Cut ``transcript`` into segments ``"<document>#<n>"`` (n from 1), in text order."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    if not 0 <= min_chars <= max_chars or max_chars < 1:
        raise ValueError("need 0 <= min_chars <= max_chars and max_chars >= 1")
    text = transcript.text
    groups: list[tuple[str | None, list[Span]]] = []  # spans that may merge, one speaker each
    for turn in transcript.turns:
        if unit == "turn":
            pieces = _cut(text, turn.start, turn.end, ())
        elif unit == "paragraph":
            pieces = _paragraphs(text, turn.start, turn.end)
        else:
            pieces = _sentences(text, turn.start, turn.end)
        if unit == "turn" and groups and groups[-1][0] == turn.speaker:
            groups[-1][1].extend(pieces)
        else:
            groups.append((turn.speaker, pieces))
    segments: list[Segment] = []
    for speaker, pieces in groups:
        interviewer = is_interviewer_label(speaker, interviewer_labels)
        for merged in _merge_short(pieces, min_chars):
            for s, e in _split_long(text, merged, max_chars):
                times = transcript.times(s, e)
                segments.append(Segment(
                    document=transcript.document, start=s, end=e, text=text[s:e],
                    speaker=speaker, id=f"{transcript.document}#{len(segments) + 1}",
                    is_interviewer=interviewer,
                    meta={"time_start": times[0], "time_end": times[1]} if times else {}))
    return segments


def load_segments(path: str | Path, *, unit: str = "turn", min_chars: int = 40,
                  max_chars: int = 1200, interviewer_labels: Iterable[str] | None = None,
                  document: str | None = None) -> list[Segment]:
    """Segments from any supported file: a ready table (.csv, .jsonl) as it is, a transcript
    (.txt, .docx, .vtt, .srt) read and cut by :func:`segment_transcript`, and every text source of
    a REFI-QDA project (.qdpx), each named as :func:`corpus.refi.document_names` names it (offsets
    into the source's text as the project has it)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".qdpx":
        from corpus.refi import document_names, read_qdpx

        project = read_qdpx(path)
        out: list[Segment] = []
        for guid, name in document_names(project).items():
            text = project.sources[guid].text or ""
            if text.strip():
                out += segment_transcript(parse_text(text, document=name), unit=unit,
                                          min_chars=min_chars, max_chars=max_chars,
                                          interviewer_labels=interviewer_labels)
        return out
    if suffix in TABLE_SUFFIXES:
        return read_segments_table(path, interviewer_labels=interviewer_labels)
    if suffix in TRANSCRIPT_SUFFIXES:
        return segment_transcript(read_transcript(path, document=document), unit=unit,
                                  min_chars=min_chars, max_chars=max_chars,
                                  interviewer_labels=interviewer_labels)
    raise TranscriptError(f"unsupported file type {suffix or '(no suffix)'!r}; supported: "
                          f"{', '.join(TRANSCRIPT_SUFFIXES + TABLE_SUFFIXES + ('.qdpx',))}",
                          source=str(path))
