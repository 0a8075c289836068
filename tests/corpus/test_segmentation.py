"""Tests for corpus.segmentation: units, merging and splitting, and the offset property."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.errors import TranscriptError
from corpus.segment import Segment
from corpus.segmentation import load_segments, segment_transcript
from corpus.transcripts import Transcript, parse_text, read_transcript

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def check(transcript: Transcript, segments: list[Segment], max_chars: int | None = None) -> None:
    """Offsets reproduce the text; segments are trimmed, sorted, apart, and within one turn's
    speaker."""
    text = transcript.text
    for seg in segments:
        assert text[seg.start:seg.end] == seg.text
        assert seg.text and seg.text == seg.text.strip()
        assert seg.document == transcript.document
        if max_chars is not None:
            assert len(seg.text) <= max_chars
        owners = {t.speaker for t in transcript.turns if t.start < seg.end and seg.start < t.end}
        assert owners == {seg.speaker}
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.end <= b.start
    assert [s.id for s in segments] == [f"{transcript.document}#{n}"
                                        for n in range(1, len(segments) + 1)]


def texts(segments: list[Segment]) -> list[tuple[str | None, str]]:
    return [(s.speaker, s.text) for s in segments]


INTERVIEW = """\
Interviewer: What did the pharmacist do in the first few weeks at the practice?
P1: Mostly repeat prescriptions, which was not the plan at all.

Then Dr. Shah said the reviews came first. After that, it changed.
Interviewer: Did you agree?
P1: Yes.
Interviewer: Why was that, do you think, looking back on it now?
P1: Because e.g. the falls were going down. Mr. Jones was the first one we noticed.
"""


def test_turn_unit():
    t = parse_text(INTERVIEW, document="int")
    segs = segment_transcript(t)
    assert texts(segs) == [(turn.speaker, turn.text) for turn in t.turns]
    assert [s.is_interviewer for s in segs] == [True, False, True, False, True, False]
    assert segs[3].text == "Yes."  # short, but no neighbour of the same speaker: stays alone
    check(t, segs)


def test_paragraph_unit():
    t = parse_text(INTERVIEW, document="int")
    segs = segment_transcript(t, unit="paragraph", min_chars=10)
    assert texts(segs)[1:3] == [
        ("P1", "Mostly repeat prescriptions, which was not the plan at all."),
        ("P1", "Then Dr. Shah said the reviews came first. After that, it changed."),
    ]
    assert len(segs) == 7
    check(t, segs)


def test_sentence_unit_respects_abbreviations():
    t = parse_text(INTERVIEW, document="int")
    segs = segment_transcript(t, unit="sentence", min_chars=0)
    p1 = [s.text for s in segs if s.speaker == "P1"]
    assert "Then Dr. Shah said the reviews came first." in p1
    assert "After that, it changed." in p1
    assert "Because e.g. the falls were going down." in p1
    assert "Mr. Jones was the first one we noticed." in p1
    check(t, segs)


def test_short_sentences_merge_within_the_turn_only():
    t = parse_text("P1: Yes. Yes. It was fine really.\nInterviewer: Ok.\nP1: Good. Fine.\n",
                   document="d")
    segs = segment_transcript(t, unit="sentence", min_chars=20)
    assert texts(segs) == [("P1", "Yes. Yes. It was fine really."), ("Interviewer", "Ok."),
                           ("P1", "Good. Fine.")]
    check(t, segs)


def test_short_paragraph_merges_into_the_previous_one_of_the_turn():
    t = parse_text("P1: A first paragraph that is long enough.\n\nShort.\nP2: Other.\n",
                   document="d")
    segs = segment_transcript(t, unit="paragraph", min_chars=20)
    assert texts(segs) == [("P1", "A first paragraph that is long enough.\n\nShort."),
                           ("P2", "Other.")]


def test_short_turns_of_the_same_speaker_merge():
    text = "P1: Fine.\n[00:02:00]\nWell, mostly fine, I would say overall.\nInterviewer: Ok.\n"
    t = parse_text(text, document="d")
    assert len(t.turns) == 3
    segs = segment_transcript(t, min_chars=20)
    assert texts(segs) == [("P1", "Fine.\n[00:02:00]\nWell, mostly fine, I would say overall."),
                           ("Interviewer", "Ok.")]
    check(t, segs)


def test_long_monologue_splits_at_sentence_ends():
    sentences = [f"This is sentence number {i} about the new clinic rota." for i in range(40)]
    t = parse_text("Interviewer: Tell me more.\nP1: " + " ".join(sentences) + "\n", document="d")
    segs = segment_transcript(t, max_chars=300)
    p1 = [s for s in segs if s.speaker == "P1"]
    assert len(p1) > 5
    assert all(s.text.endswith("rota.") for s in p1)
    assert " ".join(s.text for s in p1) == " ".join(sentences)
    check(t, segs, max_chars=300)


def test_long_sentence_splits_at_whitespace_and_long_word_is_cut():
    words = " ".join(["word"] * 200)
    t = parse_text(f"P1: {words}\nP2: {'x' * 250}\n", document="d")
    segs = segment_transcript(t, max_chars=100)
    assert all(s.text.startswith("word") and s.text.endswith("word")
               for s in segs if s.speaker == "P1")
    assert [len(s.text) for s in segs if s.speaker == "P2"] == [100, 100, 50]
    check(t, segs, max_chars=100)


def test_non_ascii_and_crlf_offsets():
    text = ("Interviewer: Was the café “open”?\r\n\r\nP1: Yes – José’s team 😀 ran it.\r\n"
            "Second line, naïve but true. Another one here!\r\n\r\n  Third para.  \r\n"
            "Dr Smith: Ça va. 👍🏽 Très bien.\r\n")
    t = parse_text(text, document="nonascii")
    for unit in ("turn", "paragraph", "sentence"):
        for min_chars in (0, 15, 25):
            check(t, segment_transcript(t, unit=unit, min_chars=min_chars, max_chars=25), 25)
    segs = segment_transcript(t, unit="sentence", min_chars=0)
    assert ("P1", "Yes – José’s team 😀 ran it.") in texts(segs)
    assert ("Dr Smith", "Ça va.") in texts(segs)
    turns = segment_transcript(t)
    assert turns[1].text.endswith("here!\r\n\r\n  Third para.")


def test_interviewer_labels_option():
    t = parse_text("Lead: Question?\nP1: Answer.\n", document="d")
    assert [s.is_interviewer for s in segment_transcript(t)] == [False, False]
    assert [s.is_interviewer for s in segment_transcript(t, interviewer_labels=["lead"])] == [
        True, False]


def test_bad_arguments():
    t = parse_text("P1: Hello.\nP2: Hi.\n", document="d")
    with pytest.raises(ValueError, match="unit"):
        segment_transcript(t, unit="word")
    with pytest.raises(ValueError):
        segment_transcript(t, min_chars=50, max_chars=10)


# ----------------------------------------------------------------------------- property

LINES = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=60),
    st.sampled_from(["Interviewer: ", "P1: ", "Dr Smith: ", "Participant 2 - ", "[00:01:23] ",
                     "00:01:23 INT: ", "P1 [00:00:05]: ", "(00:12)", "", "  ", "Dr. ", "e.g. ",
                     "Yes. ", "Well! ", "“Quote.” ", "café ", "😀 ", "\t", "."]),
)
TEXTS = st.lists(st.lists(LINES, max_size=6).map("".join), min_size=1, max_size=12).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda nl: nl.join(lines)))


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, unit=st.sampled_from(["turn", "paragraph", "sentence"]),
       min_chars=st.integers(0, 60), max_chars=st.integers(60, 400))
def test_offsets_reproduce_text(text, unit, min_chars, max_chars):
    t = parse_text(text, document="h")
    assert t.text == text
    for turn in t.turns:
        assert text[turn.start:turn.end] == turn.text and turn.text.strip() == turn.text
    for a, b in zip(t.turns, t.turns[1:], strict=False):
        assert a.end <= b.start
    check(t, segment_transcript(t, unit=unit, min_chars=min_chars, max_chars=max_chars),
          max_chars)


@settings(max_examples=40, deadline=None)
@given(text=TEXTS.filter(lambda s: s.strip() and not s.startswith("\ufeff")),
       encoding=st.sampled_from(["utf-8", "utf-8-sig"]))
def test_offsets_through_a_file(tmp_path_factory, text, encoding):
    path = tmp_path_factory.mktemp("prop") / "t.txt"
    path.write_bytes(text.encode(encoding))
    try:
        t = read_transcript(path)
    except TranscriptError as exc:
        assert "no spoken text" in str(exc)
        return
    assert t.text == text
    check(t, segment_transcript(t, unit="sentence"), 1200)


# ----------------------------------------------------------------------------- load_segments


def test_load_segments_dispatch(tmp_path):
    (tmp_path / "ready.csv").write_text("id,text,speaker\na,Hello there.,INT\n", encoding="utf-8")
    segs = load_segments(tmp_path / "ready.csv")
    assert [(s.id, s.text, s.is_interviewer) for s in segs] == [("a", "Hello there.", True)]
    (tmp_path / "talk.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nP1: Hi there.\n",
                                       encoding="utf-8")
    assert texts(load_segments(tmp_path / "talk.srt")) == [("P1", "Hi there.")]
    assert load_segments(tmp_path / "talk.srt", document="x")[0].id == "x#1"


def test_load_segments_unknown_suffix(tmp_path):
    path = tmp_path / "talk.rtf"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(TranscriptError, match=r"\.txt, \.docx, \.vtt, \.srt, \.csv, \.jsonl") as e:
        load_segments(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("name", ["clinic_pharmacist_interview.txt",
                                  "frailty_review_meeting.vtt"])
@pytest.mark.parametrize("unit", ["turn", "paragraph", "sentence"])
def test_examples(name, unit):
    t = read_transcript(EXAMPLES / name)
    segs = segment_transcript(t, unit=unit, max_chars=300)
    check(t, segs, max_chars=300)
    assert any(s.is_interviewer for s in segs) and not all(s.is_interviewer for s in segs)
    assert load_segments(EXAMPLES / name, unit=unit, max_chars=300) == segs
