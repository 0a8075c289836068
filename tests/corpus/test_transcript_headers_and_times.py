"""Transcripts as researchers get them: a header block and "Key: value" metadata lines that are
not speech, and subtitles whose timing must survive into the segments."""

from __future__ import annotations

from corpus.segmentation import load_segments
from corpus.transcripts import read_transcript

HEADER = """Interview 7 (anonymised)
Date: 14/03/2024
Location: Ward 5, Riverside
Interview ID: RS-07
Duration: 00:41:12

Interviewer: How did the new rota start?
P7: Badly. Nobody had read the email.
Interviewer: And now?
P7: Fine, we talk about it every Monday.
"""


def test_header_and_metadata_lines_are_not_turns(tmp_path):
    path = tmp_path / "rs07.txt"
    path.write_text(HEADER, encoding="utf-8")
    t = read_transcript(path)
    assert [(turn.speaker, turn.text) for turn in t.turns] == [
        ("Interviewer", "How did the new rota start?"),
        ("P7", "Badly. Nobody had read the email."),
        ("Interviewer", "And now?"),
        ("P7", "Fine, we talk about it every Monday."),
    ]
    assert t.text == HEADER  # the header stays in the document, it is only not coded
    segments = load_segments(path, unit="sentence", min_chars=0)
    assert not any("14/03/2024" in s.text or "Ward 5" in s.text for s in segments)
    assert {s.speaker for s in segments} == {"Interviewer", "P7"}


def test_metadata_lines_in_unlabelled_text(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Date: 02/05/2023\nTranscriber: JS\n\nWe started the clinic in May.\n\n"
                    "It took a while to settle.\n", encoding="utf-8")
    t = read_transcript(path)
    assert [turn.text for turn in t.turns] == ["We started the clinic in May.",
                                              "It took a while to settle."]
    assert all(turn.speaker is None for turn in t.turns)


def test_a_speaker_called_like_a_metadata_key_needs_a_colon_key(tmp_path):
    # "Dr Date" is a name, not the key "Date"
    path = tmp_path / "t.txt"
    path.write_text("Interviewer: Hello.\nDr Date: Hello to you.\n", encoding="utf-8")
    assert [turn.speaker for turn in read_transcript(path).turns] == ["Interviewer", "Dr Date"]


VTT = """WEBVTT

NOTE recorded on the ward

00:00:01.000 --> 00:00:04.500
<v Interviewer>How did the new rota start?

00:00:04.500 --> 00:00:09.250
<v Nurse>Badly. Nobody had read the email.

00:00:09.250 --> 00:01:02.000
<v Nurse>Then we met every Monday and it made sense.
"""


def test_subtitle_segments_keep_their_times(tmp_path):
    path = tmp_path / "ward.vtt"
    path.write_text(VTT, encoding="utf-8")
    t = read_transcript(path)
    assert t.text == ("Interviewer: How did the new rota start?\nNurse: Badly. Nobody had read "
                      "the email.\nThen we met every Monday and it made sense.")
    nurse = t.turns[1]
    assert (nurse.speaker, nurse.time_start, nurse.time_end) == ("Nurse", 4.5, 62.0)
    turns = load_segments(path, unit="turn", min_chars=0)
    assert [(s.speaker, s.meta["time_start"], s.meta["time_end"]) for s in turns] == [
        ("Interviewer", 1.0, 4.5), ("Nurse", 4.5, 62.0)]
    sentences = load_segments(path, unit="sentence", min_chars=0)
    assert [(s.text, s.meta["time_start"], s.meta["time_end"]) for s in sentences] == [
        ("How did the new rota start?", 1.0, 4.5),
        ("Badly.", 4.5, 9.25),
        ("Nobody had read the email.", 4.5, 9.25),
        ("Then we met every Monday and it made sense.", 9.25, 62.0)]
    for s in sentences:  # offsets still point at what was said, never at the speaker name
        assert t.text[s.start:s.end] == s.text


def test_untimed_text_has_no_times(tmp_path):
    path = tmp_path / "rs07.txt"
    path.write_text(HEADER, encoding="utf-8")
    assert all("time_start" not in s.meta for s in load_segments(path))
