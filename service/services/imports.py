"""Codings inside an uploaded REFI-QDA project (.qdpx): each coder's codings become accepted
codings of the project's segments, attributed to that coder, with the uploader on record as who
imported them.

A coding covers a stretch of text, a segment is a turn or paragraph: a segment takes a coding's
code when the coding covers at least half of the segment, or the segment holds at least half of
the coding (a short quotation inside a long turn). A code is matched to the project's codebook by
id, else by its name (case and spacing ignored) when exactly one code there has that name.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from corpus.codebook import Codebook
from corpus.errors import PrecodeInputError
from service.db.models import Review, Suggestion, User, utcnow
from service.db.models import Segment as SegmentRow
from service.services.reviews import set_decision

UNKNOWN_CODES = ("error", "drop")
CODINGS = ("import", "ignore")


@dataclass(frozen=True)
class FileCoding:
    """One code one coder gave to ``text[start:end]`` of a document, as the file has it."""

    coder: str
    code: str  # the code's id in the file's codebook
    label: str  # its name there
    start: int
    end: int


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def code_matcher(book: Codebook):
    """file code (id, name) -> the project's code id, or None."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for code in book:
        by_label[_key(code.label)].append(code.id)

    def match(code_id: str, label: str) -> str | None:
        if code_id in book:
            return code_id
        found = by_label.get(_key(label), [])
        return found[0] if len(found) == 1 else None

    return match


def map_codes(codings: dict[str, list[FileCoding]], book: Codebook, *, unknown: str,
              source: str) -> tuple[dict[str, list[FileCoding]], list[str]]:
    """The codings with the project's code ids, and notes. Codes the codebook lacks are an error
    naming them (``unknown="error"``) or left out, counted in a note (``"drop"``)."""
    match = code_matcher(book)
    missing: dict[str, int] = {}
    out: dict[str, list[FileCoding]] = {}
    for document, items in codings.items():
        kept = []
        for c in items:
            code = match(c.code, c.label)
            if code is None:
                missing[c.label] = missing.get(c.label, 0) + 1
            else:
                kept.append(FileCoding(c.coder, code, c.label, c.start, c.end))
        out[document] = kept
    notes = []
    if missing:
        names = ", ".join(f"{name!r}" for name in sorted(missing)[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        if unknown == "error":
            raise PrecodeInputError(
                f"{len(missing)} code(s) used in the project are not in this project's codebook: "
                f"{names}{more}. Upload with unknown_codes=drop to leave their codings out, or "
                "codings=ignore to import the texts only", source=source, field="codes")
        notes.append(f"left out {sum(missing.values())} coding(s) of {len(missing)} code(s) not in "
                     f"the codebook: {names}{more}")
    return out, notes


def _covers(seg_start: int, seg_end: int, start: int, end: int) -> bool:
    overlap = min(seg_end, end) - max(seg_start, start)
    return overlap > 0 and (2 * overlap >= seg_end - seg_start or 2 * overlap >= end - start)


def coded_segments(segments: list[SegmentRow], codings: list[FileCoding]
                   ) -> dict[tuple[int, str], list[str]]:
    """(segment id, coder) -> the codes that coder gave the segment (in first-seen order)."""
    segments = sorted(segments, key=lambda s: (s.start, s.end))
    starts = [s.start for s in segments]
    out: dict[tuple[int, str], list[str]] = {}
    for c in codings:
        # segments do not overlap: those starting before the coding's end, from the last one
        # starting at or before its start
        first = max(bisect_right(starts, c.start) - 1, 0)
        for seg in segments[first:bisect_left(starts, c.end)]:
            if _covers(seg.start, seg.end, c.start, c.end):
                codes = out.setdefault((seg.id, c.coder), [])
                if c.code not in codes:
                    codes.append(c.code)
    return out


def store_codings(*, session: Session, project_id: int, user: User, filename: str,
                  segments: list[SegmentRow], codings: list[FileCoding]) -> tuple[int, set[str]]:
    """Add one document's imported codings (in the caller's transaction): an accepted
    ``imported`` suggestion and an ``import`` review per (segment, coder, code). Returns how many
    and the coders."""
    n = 0
    coders = set()
    for (segment_id, coder), codes in coded_segments(segments, codings).items():
        coders.add(coder)
        for code in codes:
            suggestion = Suggestion(project_id=project_id, segment_id=segment_id, code=code,
                                    origin="imported", status="accepted", decided_code=code,
                                    created_by=user.id)
            session.add(suggestion)
            session.flush()
            review = Review(project_id=project_id, suggestion_id=suggestion.id,
                            reviewer_id=user.id, action="import", code=code, coder=coder,
                            note=f"coded by {coder} in {filename}", created_at=utcnow())
            session.add(review)
            session.flush()
            set_decision(session, suggestion, user, "accepted", code, review, coder=coder)
            n += 1
    return n, coders
