"""The segment: a span of a transcript, the unit that gets coded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Segment:
    """A span ``original[start:end]`` of one document.

    ``start`` and ``end`` are character offsets (Python ``str`` indices, i.e. Unicode code points)
    into the document's original text, so codings can be written back to CAQDAS packages.
    ``is_interviewer`` marks turns that are kept for context but not coded by default.
    ``id`` is the input's own id when the segments came ready-made (CSV/JSONL), else
    ``"<document>#<n>"``.
    """

    document: str
    start: int
    end: int
    text: str
    speaker: str | None = None
    id: str | None = None
    is_interviewer: bool = False
    meta: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        return asdict(self)


def own_context(seg) -> str | None:
    """The context a segment brought with it: a stored segment's ``context`` attribute, or a
    read segment's ``meta["context"]`` (a segment table's ``context`` column); blank is none."""
    value = getattr(seg, "context", None)
    if value is None:
        meta = getattr(seg, "meta", None)
        value = meta.get("context") if isinstance(meta, dict) else None
    return (value.strip() or None) if isinstance(value, str) else None


def contexts_for(segments: Sequence, document: Callable = lambda seg: seg.document
                 ) -> dict[int, str]:
    """The question each segment answers, for a model trained with contexts: the segment's own
    context (a segment table's ``context`` column) where it has one, else the text of the
    interviewer turn before it in its document (``segments`` in document order; nothing before a
    document's first question; an interviewer turn only has its own). Keys: positions in
    ``segments``."""
    out: dict[int, str] = {}
    last: dict = {}
    for i, seg in enumerate(segments):
        context = own_context(seg)
        if seg.is_interviewer:
            last[document(seg)] = seg.text
        else:
            context = context or last.get(document(seg))
        if context:
            out[i] = context
    return out
