"""Reading interview transcripts (.txt, .docx, .vtt, .srt) and ready-made segment tables.

A :class:`Transcript` keeps the document's text exactly as read (line endings included) and a list
of speaker :class:`Turn` s whose ``start``/``end`` are character offsets into that text, so that
``transcript.text[turn.start:turn.end] == turn.text``. Speaker labels and timestamps are never part
of a turn's text; they stay in the document text between turns.

Plain text (.txt, and .docx whose paragraphs are joined with ``"\\n"``) is read as turns that start
with a speaker label (``Interviewer:``, ``P3:``, ``Dr Smith:``, ``INT:``, ``Participant 2 -``) and
run until the next label. Timestamps such as ``[00:01:23]``, ``(00:12)``, ``00:01:23 P3: ...`` or
``P3 [00:01:23]: ...`` at the start of a line or after a label are skipped; a line holding only a
timestamp ends the turn (the same speaker goes on in a new turn). A text without speaker labels
gives one turn per paragraph, with no speaker.

Header and metadata lines are not speech and give no turn: ``Key: value`` lines whose key is one
of :data:`METADATA_KEYS` (``Date: 14/03/2024``, ``Location:``, ``Interview ID:``, ...) anywhere,
and in a labelled text every line before the first speaker label (a title, a study name).

Which ``Word:`` at the start of a line is a speaker label is a guess: a known role (Interviewer,
Participant 2, P3, ...), a Title Case name before a colon, or any name used as a label on at least
two lines. A text counts as labelled when it has a known role label or at least two label lines.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from corpus.errors import TranscriptError
from corpus.segment import Segment
from corpus.textio import decode_file, jsonl_objects

TRANSCRIPT_SUFFIXES = (".txt", ".docx", ".vtt", ".srt")
TABLE_SUFFIXES = (".csv", ".jsonl")

DEFAULT_INTERVIEWER_LABELS = frozenset(
    {"interviewer", "int", "i", "researcher", "facilitator", "moderator", "q"})


@dataclass
class Turn:
    """One speaker's turn: ``text == transcript.text[start:end]``, without label or timestamp.
    ``time_start``/``time_end`` (seconds) where the file is timed (subtitles)."""

    start: int
    end: int
    speaker: str | None
    text: str
    time_start: float | None = None
    time_end: float | None = None


@dataclass
class Transcript:
    """A document's original ``text`` and its turns.

    ``encoding`` is how the file was decoded: ``"utf-8"``, ``"utf-8-sig"`` (a byte order mark was
    removed, so offsets count from the first character after it), ``"cp1252"``, or ``None`` for a
    .docx.
    """

    document: str
    text: str
    turns: list[Turn] = field(default_factory=list)
    encoding: str | None = None
    cues: list[tuple[int, int, float, float]] = field(default_factory=list)  # (start, end, s, s)

    def times(self, start: int, end: int) -> tuple[float, float] | None:
        """The media time (seconds) of the characters ``start:end``: from the first to the last
        subtitle cue they overlap; ``None`` for an untimed transcript."""
        hit = [(t0, t1) for s, e, t0, t1 in self.cues if s < end and start < e]
        return (min(t for t, _ in hit), max(t for _, t in hit)) if hit else None


# --------------------------------------------------------------------------- speakers


def _normalise_label(label: str) -> str:
    label = label.strip().rstrip(":").strip().casefold()
    label = re.sub(r"[\s.]*\d+$", "", label)  # "Interviewer 2", "INT1"
    return label.rstrip(".").strip()


def is_interviewer_label(speaker: str | None,
                         interviewer_labels: Iterable[str] | None = None) -> bool:
    """Whether ``speaker`` names the interviewer (case-insensitive; ``"Int."`` and ``"INT 2"`` too).

    ``interviewer_labels`` replaces the default set (Interviewer, INT, I, Int., Researcher,
    Facilitator, Moderator, Q).
    """
    if not speaker:
        return False
    labels = (DEFAULT_INTERVIEWER_LABELS if interviewer_labels is None
              else {_normalise_label(x) for x in interviewer_labels})
    return _normalise_label(speaker) in labels


_TS = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_TIMESTAMP = re.compile(
    rf"\[\s*{_TS}(?:\s*[-–]\s*{_TS})?\s*\]|\(\s*{_TS}\s*\)|{_TS}(?=\s|$)")
_LABEL = re.compile(
    r"(?P<name>[^\W\d_][\w.'’ \-]{0,39}?)\s*"
    rf"(?:[\[(]\s*{_TS}\s*[\])]\s*)?"
    r"(?:(?P<colon>:)|(?<=\s)[-–—](?=\s|$))")
# "Key: value" lines that describe the interview, not someone speaking ("Date: 14/03/2024")
METADATA_KEYS = frozenset({
    "date", "time", "duration", "length", "location", "place", "venue", "site", "setting",
    "interview", "interview id", "interview date", "interview no", "interview number", "study",
    "project", "title", "transcript", "transcriber", "transcribed by", "transcription",
    "transcription date", "file", "file name", "filename", "recording", "recorded", "audio",
    "participant id", "respondent id", "pseudonym", "language", "mode", "format", "start time",
    "end time", "version", "subject", "topic", "wave", "round", "ward", "department"})
_ROLE = re.compile(
    r"(?:[iqpras]|pt|int|interviewer|interviewee|participant|respondent|speaker|patient|person|"
    r"researcher|facilitator|moderator)\.?\s*\d*", re.IGNORECASE)


@dataclass
class _Line:
    start: int  # where the line's text starts, after leading timestamps
    end: int  # end of the line's text, trailing whitespace trimmed
    had_timestamp: bool
    name: str | None = None  # candidate speaker label at ``start``
    colon: bool = False
    body: int = 0  # where the text after the candidate label starts
    metadata: bool = False  # a "Key: value" line about the interview (see METADATA_KEYS)


def _skip_timestamps(text: str, pos: int, end: int) -> tuple[int, bool]:
    found = False
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        m = _TIMESTAMP.match(text, pos, end)
        if not m:
            return pos, found
        pos, found = m.end(), True


def _line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line without its line break; only \\r\\n, \\r and \\n break lines."""
    spans, pos = [], 0
    for m in re.finditer(r"\r\n|\r|\n", text):
        spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def _scan_line(text: str, start: int, end: int) -> _Line:
    while end > start and text[end - 1].isspace():
        end -= 1
    pos, had_ts = _skip_timestamps(text, start, end)
    line = _Line(pos, end, had_ts, body=pos)
    m = _LABEL.match(text, pos, end) if pos < end else None
    if m and len(m.group("name").split()) <= 4:
        line.name, line.colon = m.group("name").strip(), bool(m.group("colon"))
        line.body, _ = _skip_timestamps(text, m.end(), end)
        if line.colon and " ".join(line.name.casefold().rstrip(".").split()) in METADATA_KEYS:
            line.metadata, line.name = True, None
    return line


def _accepted_labels(lines: list[_Line]) -> set[str]:
    """The candidate names that are taken as speaker labels (see the module docstring)."""
    counts = Counter(line.name for line in lines if line.name)
    accepted = set()
    for line in lines:
        name = line.name
        if name and (_ROLE.fullmatch(name) or counts[name] >= 2 or (
                line.colon and all(w[0].isupper() or w[0].isdigit() for w in name.split()))):
            accepted.add(name)
    known_role = any(_ROLE.fullmatch(n) for n in accepted)
    labelled_lines = sum(1 for line in lines if line.name in accepted)
    return accepted if known_role or labelled_lines >= 2 else set()


def parse_text(text: str, *, document: str, encoding: str | None = None) -> Transcript:
    """Split a plain text into turns (see the module docstring); ``text`` is kept unchanged."""
    lines = [_scan_line(text, s, e) for s, e in _line_spans(text)]
    labels = _accepted_labels(lines)
    first_label = next((i for i, line in enumerate(lines) if line.name in labels), len(lines))
    turns: list[Turn] = []
    speaker: str | None = None
    cur: list | None = None  # [start, end] of the open turn; start None until content is seen

    def close() -> None:
        if cur is not None and cur[0] is not None:
            turns.append(Turn(cur[0], cur[1], speaker, text[cur[0]:cur[1]]))

    for i, line in enumerate(lines):
        if line.metadata or i < first_label and labels:  # header and metadata: not speech
            close()
            cur = None
            continue
        if line.name in labels:
            close()
            speaker = line.name
            cur = [line.body, line.end] if line.body < line.end else [None, None]
            continue
        if line.start >= line.end:  # a blank or timestamp-only line
            if line.had_timestamp or not labels:
                close()
                cur = None
            continue
        if cur is not None and line.had_timestamp and cur[0] is not None:
            close()
            cur = None
        if cur is None or cur[0] is None:
            cur = [line.start, line.end]
        else:
            cur[1] = line.end
    close()
    return Transcript(document, text, turns, encoding)


# --------------------------------------------------------------------------- files


def _read_docx(path: Path) -> str:
    import docx

    src = str(path)
    if not path.is_file():
        raise TranscriptError("cannot read: no such file", source=src)
    try:
        doc = docx.Document(str(path))
        text = "\n".join(p.text for p in doc.paragraphs)
    except Exception as exc:  # python-docx raises many kinds for a broken package
        raise TranscriptError(f"not a readable .docx file ({type(exc).__name__}: {exc})",
                              source=src) from None
    if not text.strip():
        raise TranscriptError("the file is empty", source=src)
    return text


@dataclass
class _Cue:
    line: int  # line number of the timing line
    text: str  # cue text, markup removed
    speaker: str | None = None  # from a <v> voice tag
    start: float = 0.0  # seconds
    end: float = 0.0


def _blocks(text: str) -> list[list[tuple[int, str]]]:
    """Groups of (line number, line) separated by blank lines."""
    blocks: list[list[tuple[int, str]]] = [[]]
    for n, (s, e) in enumerate(_line_spans(text), 1):
        line = text[s:e]
        if line.strip():
            blocks[-1].append((n, line))
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


_VTT_TIME = r"(?:(\d{2,}):)?(\d{2}):(\d{2})[.,](\d{3})"
_VTT_TIMING = re.compile(rf"\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}(?:\s+.*)?")
_SRT_TIME = r"(\d{1,2}):(\d{2}):(\d{2})[,.](\d{3})"
_SRT_TIMING = re.compile(rf"\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s+.*)?")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def media_clock(seconds: float | None) -> str:
    """``HH:MM:SS.mmm`` as subtitles write it; empty for untimed text."""
    if seconds is None:
        return ""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _seconds(groups: tuple) -> float:
    h, m, s, ms = (int(g) if g else 0 for g in groups)
    return h * 3600 + m * 60 + s + ms / 1000


def _cue_timing(pattern: re.Pattern, line: str, *, src: str, n: int) -> tuple[float, float]:
    m = pattern.fullmatch(line)
    if not m:
        raise TranscriptError(f"malformed cue timing line {line.strip()!r} (expected "
                              "'start --> end')", source=src, line=n)
    start, end = _seconds(m.groups()[:4]), _seconds(m.groups()[4:])
    if end < start:
        raise TranscriptError("cue ends before it starts", source=src, line=n)
    return start, end


def _parse_cues(text: str, *, src: str, vtt: bool) -> list[_Cue]:
    blocks = _blocks(text)
    if vtt:
        if not re.match(r"WEBVTT(?:[ \t]|\r|\n|$)", text):
            raise TranscriptError("not a WebVTT file: the first line must be 'WEBVTT'",
                                  source=src, line=1)
        blocks = [b for b in blocks[1:]
                  if not re.match(r"(?:NOTE|STYLE|REGION)(?:\s|$)", b[0][1])]
    timing = _VTT_TIMING if vtt else _SRT_TIMING
    cues = []
    for block in blocks:
        # the timing line comes first or after an identifier (in .srt a cue number)
        head = next((i for i, (_, line) in enumerate(block[:2]) if "-->" in line), None)
        if head is None:  # blame whichever line should have been the timing line
            head = 0 if re.match(r"\s*\d+:\d", block[0][1]) or len(block) == 1 else 1
        if not vtt and head == 1 and not block[0][1].strip().isdigit():
            raise TranscriptError(f"expected a cue number or timing line, found "
                                  f"{block[0][1].strip()!r}", source=src, line=block[0][0])
        n, line = block[head]
        t0, t1 = _cue_timing(timing, line, src=src, n=n)
        payload = "\n".join(t for _, t in block[head + 1:])
        voice = _VOICE.search(payload)
        cue_text = _TAG.sub("", payload)
        if vtt:
            cue_text = html.unescape(cue_text)
        cues.append(_Cue(n, cue_text.strip(), voice.group(1).strip() if voice else None,
                         t0, t1))
    if not cues:
        raise TranscriptError("no cues in the file", source=src)
    return cues


def _cues_to_transcript(cues: list[_Cue], *, document: str, encoding: str) -> Transcript:
    """Document text = the cue texts, markup removed, joined by newlines; where the speaker
    changes, the cue's text is preceded by ``"Speaker: "`` (so the text, e.g. imported into a
    CAQDAS package, still says who speaks), outside the turn's span. Every cue's span keeps its
    start and end time."""
    scans = [_scan_line(c.text, 0, len(c.text)) for c in cues]
    labels = _accepted_labels([s for c, s in zip(cues, scans, strict=True) if c.speaker is None])
    parts: list[str] = []
    spans: list[list] = []  # merged turns: [start, end, speaker, time_start, time_end]
    timed: list[tuple[int, int, float, float]] = []
    pos, speaker = 0, None
    for cue, scan in zip(cues, scans, strict=True):
        content = cue.text
        if cue.speaker:
            speaker = cue.speaker
        elif scan.metadata:
            continue
        elif scan.name in labels:
            speaker, content = scan.name, cue.text[scan.body:].strip()
        if not content:
            continue
        if parts:
            pos += 1  # the "\n" joining cues
        new_turn = not spans or spans[-1][2] != speaker
        prefix = f"{speaker}: " if new_turn and speaker else ""
        parts.append(prefix + content)
        pos += len(prefix)
        if new_turn:
            spans.append([pos, pos + len(content), speaker, cue.start, cue.end])
        else:
            spans[-1][1], spans[-1][4] = pos + len(content), cue.end
        timed.append((pos, pos + len(content), cue.start, cue.end))
        pos += len(content)
    text = "\n".join(parts)
    turns = [Turn(s, e, sp, text[s:e], t0, t1) for s, e, sp, t0, t1 in spans]
    return Transcript(document, text, turns, encoding, timed)


def read_transcript(path: str | Path, *, document: str | None = None) -> Transcript:
    """Read a .txt, .docx, .vtt or .srt transcript; ``document`` defaults to the file stem.

    Subtitles (.vtt, .srt): a cue's speaker comes from a ``<v Speaker>`` voice tag or a
    ``Speaker: text`` prefix; a cue without one goes on with the previous speaker, and consecutive
    cues of the same speaker are one turn. Subtitle files carry timing and markup that are not
    part of what was said, so the document text (what the offsets point into) is built from the
    cues: each cue's text with tags and entities removed, the cues joined by ``"\\n"`` -- the way
    CAQDAS packages import subtitles as plain text -- and ``"Speaker: "`` written where the
    speaker changes (outside the turns' spans). Each cue keeps its times
    (:meth:`Transcript.times`), and each turn its first cue's start and last cue's end.
    """
    path = Path(path)
    src = str(path)
    document = document or path.stem
    suffix = path.suffix.lower()
    if suffix == ".docx":
        transcript = parse_text(_read_docx(path), document=document)
    elif suffix in (".txt", ".vtt", ".srt"):
        text, encoding = decode_file(path, error=TranscriptError)
        if suffix == ".txt":
            transcript = parse_text(text, document=document, encoding=encoding)
        else:
            cues = _parse_cues(text, src=src, vtt=suffix == ".vtt")
            transcript = _cues_to_transcript(cues, document=document, encoding=encoding)
    else:
        hint = " (a table of ready segments: use read_segments_table)" if (
            suffix in TABLE_SUFFIXES) else ""
        raise TranscriptError(f"unsupported transcript type {suffix or '(no suffix)'!r}; "
                              f"supported: {', '.join(TRANSCRIPT_SUFFIXES)}{hint}", source=src)
    if not transcript.turns:
        raise TranscriptError("no spoken text found (only labels or timestamps)", source=src)
    return transcript


# --------------------------------------------------------------------------- segment tables


def _table_rows(path: Path) -> Iterable[tuple[int, dict]]:
    src = str(path)
    text, _ = decode_file(path, error=TranscriptError)
    if path.suffix.lower() == ".jsonl":
        for n, row in jsonl_objects(text, source=src, error=TranscriptError):
            for key in ("id", "text"):
                if key not in row:
                    raise TranscriptError(f"missing {key!r}", source=src, line=n, field=key)
            yield n, row
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in ("id", "text") if c not in header]
        if missing:
            raise TranscriptError(f"missing column(s) {', '.join(missing)}; needs 'id' and 'text' "
                                  "(optional 'document', 'speaker')", source=src, line=1)
        reader.fieldnames = header
        for row in reader:
            if None in row:
                raise TranscriptError("more fields than columns", source=src,
                                      line=reader.line_num)
            yield reader.line_num, row
    except csv.Error as exc:
        raise TranscriptError(f"bad CSV: {exc}", source=src, line=reader.line_num) from None


def read_segments_table(path: str | Path, *,
                        interviewer_labels: Iterable[str] | None = None) -> list[Segment]:
    """Read ready-made segments from .csv or .jsonl: ``id``, ``text``; optional ``document``
    (default: the file stem), ``speaker`` and ``context`` (the question the segment answers).
    Other columns go into ``meta``, the context too.

    Such a segment has no surrounding document, so its document text is taken to be its own text:
    ``start=0`` and ``end=len(text)``.
    """
    path = Path(path)
    src = str(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise TranscriptError(f"segment tables must be {' or '.join(TABLE_SUFFIXES)}", source=src)
    seen: dict[str, int] = {}
    out: list[Segment] = []
    for n, row in _table_rows(path):
        seg_id = "" if row.get("id") is None else str(row["id"]).strip()
        if not seg_id:
            raise TranscriptError("empty id", source=src, line=n, field="id")
        if seg_id in seen:
            raise TranscriptError(f"duplicate id {seg_id!r} (first on line {seen[seg_id]})",
                                  source=src, line=n, field="id")
        seen[seg_id] = n
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TranscriptError("empty text", source=src, line=n, field="text")
        speaker = str(row.get("speaker") or "").strip() or None
        if row.get("context") is not None and not isinstance(row["context"], str):
            raise TranscriptError("context must be text (the question the segment answers)",
                                  source=src, line=n, field="context")
        meta = {k: v for k, v in row.items()
                if k not in ("id", "text", "document", "speaker") and v not in (None, "")}
        out.append(Segment(document=str(row.get("document") or path.stem), start=0, end=len(text),
                           text=text, speaker=speaker, id=seg_id,
                           is_interviewer=is_interviewer_label(speaker, interviewer_labels),
                           meta=meta))
    if not out:
        raise TranscriptError("no segments in the file", source=src)
    return out
