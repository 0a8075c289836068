"""Tests for corpus.transcripts: each format, each encoding, and bad input naming file and line."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import docx
import pytest

from corpus.errors import TranscriptError
from corpus.transcripts import (
    Transcript,
    is_interviewer_label,
    parse_text,
    read_segments_table,
    read_transcript,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def check_offsets(t: Transcript) -> None:
    for turn in t.turns:
        assert t.text[turn.start:turn.end] == turn.text
        assert turn.text == turn.text.strip() and turn.text


def speakers_and_texts(t: Transcript) -> list[tuple[str | None, str]]:
    return [(turn.speaker, turn.text) for turn in t.turns]


# ----------------------------------------------------------------------------- txt

LABELLED = """\
Interviewer: How did the new clinic start?
P3: It started slowly.
We had no room at first.

Dr Smith: I remember that.
INT: And then?
Participant 2 - Then it got better.
"""


def test_txt_labels_and_continuation_lines(tmp_path):
    t = read_transcript(write(tmp_path / "int.txt", LABELLED))
    assert t.document == "int"
    assert speakers_and_texts(t) == [
        ("Interviewer", "How did the new clinic start?"),
        ("P3", "It started slowly.\nWe had no room at first."),
        ("Dr Smith", "I remember that."),
        ("INT", "And then?"),
        ("Participant 2", "Then it got better."),
    ]
    assert t.text == LABELLED
    check_offsets(t)


def test_txt_document_name_can_be_given(tmp_path):
    t = read_transcript(write(tmp_path / "a.txt", LABELLED), document="doc-7")
    assert t.document == "doc-7"


def test_txt_timestamps_are_skipped(tmp_path):
    text = ("[00:01:23] Interviewer: First question?\n"
            "(00:12) P1: First answer.\n"
            "00:02:05 Interviewer: Second question?\n"
            "P1 [00:02:10]: Second answer.\n"
            "Interviewer (00:03:00): [00:03:01] Third question?\n"
            "[00:03:05 - 00:03:20]\n"
            "P1: Third answer.\n")
    t = read_transcript(write(tmp_path / "ts.txt", text))
    assert speakers_and_texts(t) == [
        ("Interviewer", "First question?"), ("P1", "First answer."),
        ("Interviewer", "Second question?"), ("P1", "Second answer."),
        ("Interviewer", "Third question?"), ("P1", "Third answer."),
    ]
    check_offsets(t)


def test_txt_timestamp_line_inside_a_turn_starts_a_new_turn_of_the_same_speaker(tmp_path):
    text = "P1: Fine.\n[00:02:00]\nWell, mostly fine.\nInterviewer: Right.\n"
    t = read_transcript(write(tmp_path / "t.txt", text))
    assert speakers_and_texts(t) == [("P1", "Fine."), ("P1", "Well, mostly fine."),
                                     ("Interviewer", "Right.")]


def test_txt_label_on_its_own_line(tmp_path):
    t = read_transcript(write(tmp_path / "t.txt", "Interviewer:\nWhat happened?\nP2:\n\nA lot.\n"))
    assert speakers_and_texts(t) == [("Interviewer", "What happened?"), ("P2", "A lot.")]


def test_txt_without_labels_gives_one_turn_per_paragraph(tmp_path):
    text = ("Background: notes from a site visit.\nThe team met on Monday.\n\n"
            "They talked about the rota.\n\n\n  Everyone agreed: try it for a month.  \n")
    t = read_transcript(write(tmp_path / "notes.txt", text))
    assert speakers_and_texts(t) == [
        (None, "Background: notes from a site visit.\nThe team met on Monday."),
        (None, "They talked about the rota."),
        (None, "Everyone agreed: try it for a month."),
    ]
    check_offsets(t)


def test_txt_header_before_the_first_label_is_not_a_turn(tmp_path):
    text = "Site 3, March\n\nInterviewer: Hello?\nP1: Hi.\n"
    t = read_transcript(write(tmp_path / "t.txt", text))
    assert speakers_and_texts(t) == [("Interviewer", "Hello?"), ("P1", "Hi.")]


def test_txt_lowercase_phrase_with_colon_is_not_a_label(tmp_path):
    text = "Interviewer: Why?\nP1: Well.\nthe thing is: nobody asked.\n"
    t = read_transcript(write(tmp_path / "t.txt", text))
    assert speakers_and_texts(t)[-1] == ("P1", "Well.\nthe thing is: nobody asked.")


def test_txt_crlf_is_kept_in_the_text(tmp_path):
    text = "Interviewer: One?\r\nP1: Two\r\nlines.\r\n"
    t = read_transcript(write(tmp_path / "crlf.txt", text))
    assert t.text == text
    assert speakers_and_texts(t) == [("Interviewer", "One?"), ("P1", "Two\r\nlines.")]
    check_offsets(t)


# ----------------------------------------------------------------------------- encodings

NON_ASCII = "Interviewer: Was the café “open” – really?\nP1: Yes, José said it’s fine.\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_encodings(tmp_path, encoding):
    t = read_transcript(write(tmp_path / "enc.txt", NON_ASCII, encoding))
    assert t.text == NON_ASCII  # no BOM in the text: offsets count from the first real character
    assert t.encoding == encoding
    assert t.turns[0].text == "Was the café “open” – really?"
    assert t.turns[0].start == len("Interviewer: ")
    check_offsets(t)


def test_undecodable_bytes(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Interviewer: hello \x81\x8d\xff\n")
    with pytest.raises(TranscriptError, match="not UTF-8 or cp1252") as err:
        read_transcript(path)
    assert str(path) in str(err.value)


def test_nul_bytes_are_binary(tmp_path):
    path = tmp_path / "utf16.txt"
    path.write_bytes("Interviewer: hello\n".encode("utf-16"))
    with pytest.raises(TranscriptError, match="NUL") as err:
        read_transcript(path)
    assert err.value.source == str(path)


@pytest.mark.parametrize("content", [b"", b"  \n\r\n\t ", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(TranscriptError, match="empty") as err:
        read_transcript(path)
    assert str(err.value).startswith(str(path))


def test_only_timestamps_is_an_error(tmp_path):
    path = write(tmp_path / "ts.txt", "[00:00:01]\n[00:00:02]\nInterviewer:\n")
    with pytest.raises(TranscriptError, match="no spoken text") as err:
        read_transcript(path)
    assert str(path) in str(err.value)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(TranscriptError, match="cannot read") as err:
        read_transcript(tmp_path / "nope.txt")
    assert "nope.txt" in str(err.value)
    path = write(tmp_path / "notes.pdf", "x")
    with pytest.raises(TranscriptError, match=r"\.txt, \.docx, \.vtt, \.srt") as err:
        read_transcript(path)
    assert str(path) in str(err.value)


# ----------------------------------------------------------------------------- docx


def test_docx(tmp_path):
    document = docx.Document()
    for para in ["[00:00:05] Interviewer: Who runs the clinic?",
                 "P1: Zoë does, on Tuesdays – mostly.", "She’s great.", "",
                 "Interviewer: Thanks."]:
        document.add_paragraph(para)
    path = tmp_path / "clinic.docx"
    document.save(str(path))
    t = read_transcript(path)
    assert t.text == ("[00:00:05] Interviewer: Who runs the clinic?\n"
                      "P1: Zoë does, on Tuesdays – mostly.\nShe’s great.\n\nInterviewer: Thanks.")
    assert speakers_and_texts(t) == [
        ("Interviewer", "Who runs the clinic?"),
        ("P1", "Zoë does, on Tuesdays – mostly.\nShe’s great."),
        ("Interviewer", "Thanks."),
    ]
    assert t.encoding is None
    check_offsets(t)


def test_docx_that_is_not_a_zip(tmp_path):
    path = write(tmp_path / "fake.docx", "Interviewer: I am really a text file.\n")
    with pytest.raises(TranscriptError, match="not a readable .docx") as err:
        read_transcript(path)
    assert err.value.source == str(path)


def test_docx_corrupt_zip(tmp_path):
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "not a word document")
    with pytest.raises(TranscriptError, match="not a readable .docx") as err:
        read_transcript(path)
    assert str(path) in str(err.value)


def test_empty_docx(tmp_path):
    path = tmp_path / "empty.docx"
    docx.Document().save(str(path))
    with pytest.raises(TranscriptError, match="empty"):
        read_transcript(path)


# ----------------------------------------------------------------------------- vtt

VTT = """\
WEBVTT

NOTE this is a comment
over two lines

intro
00:00:01.000 --> 00:00:04.000
<v Dr Ana Núñez>Hello &amp; welcome.</v>

00:00:04.000 --> 00:00:06.000 align:start
<v Dr Ana Núñez>A second <i>cue</i>,
on two lines.

00:06.000 --> 00:00:08.000
<v.loud Interviewer>Thanks.

00:00:08.000 --> 00:00:09.000
And one more from me.

00:00:09.500 --> 00:00:11.000
<v Dr Ana Núñez>Back to me.
"""


def test_vtt_voice_tags_and_merging(tmp_path):
    t = read_transcript(write(tmp_path / "call.vtt", VTT))
    # the speaker is written where it changes, so the text (and a .qdpx of it) says who speaks
    assert t.text == ("Dr Ana Núñez: Hello & welcome.\nA second cue,\non two lines.\n"
                      "Interviewer: Thanks.\nAnd one more from me.\nDr Ana Núñez: Back to me.")
    assert speakers_and_texts(t) == [
        ("Dr Ana Núñez", "Hello & welcome.\nA second cue,\non two lines."),
        ("Interviewer", "Thanks.\nAnd one more from me."),
        ("Dr Ana Núñez", "Back to me."),
    ]
    check_offsets(t)


def test_vtt_speaker_prefixes(tmp_path):
    text = ("WEBVTT\r\n\r\n00:00:01.000 --> 00:00:02.000\r\nModerator: Shall we start?\r\n\r\n"
            "00:00:02.000 --> 00:00:03.000\r\nP1: Yes.\r\n\r\n"
            "00:00:03.000 --> 00:00:04.000\r\nP1: Let’s go.\r\n")
    t = read_transcript(write(tmp_path / "zoom.vtt", text, "utf-8-sig"))
    assert t.text == "Moderator: Shall we start?\nP1: Yes.\nLet’s go."
    assert speakers_and_texts(t) == [("Moderator", "Shall we start?"), ("P1", "Yes.\nLet’s go.")]
    assert [(turn.time_start, turn.time_end) for turn in t.turns] == [(1.0, 2.0), (2.0, 4.0)]
    check_offsets(t)


def test_vtt_without_speakers_is_one_turn(tmp_path):
    text = ("WEBVTT\n\n00:01.000 --> 00:02.000\nFirst line.\n\n"
            "00:02.000 --> 00:03.000\nSecond line.\n")
    t = read_transcript(write(tmp_path / "plain.vtt", text))
    assert speakers_and_texts(t) == [(None, "First line.\nSecond line.")]


@pytest.mark.parametrize("timing, line", [
    ("00:00:0x.000 --> 00:00:04.000", 6),
    ("00:00:01.000 -> 00:00:04.000", 6),
    ("00:00:05.000 --> 00:00:04.000", 6),
])
def test_vtt_bad_timing_line(tmp_path, timing, line):
    text = f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nok\n\n{timing}\n<v A>Hello.\n"
    path = write(tmp_path / "bad.vtt", text)
    with pytest.raises(TranscriptError) as err:
        read_transcript(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}:")


def test_vtt_without_header(tmp_path):
    path = write(tmp_path / "nohead.vtt", "00:00:01.000 --> 00:00:02.000\nHello.\n")
    with pytest.raises(TranscriptError, match="WEBVTT") as err:
        read_transcript(path)
    assert str(err.value).startswith(f"{path}:1:")


# ----------------------------------------------------------------------------- srt

SRT = """\
1
00:00:01,000 --> 00:00:02,500
Interviewer: How long have you <i>been</i> here?

2
00:00:02,500 --> 00:00:05,000
Renée: Two years.
{\\an8}Before that, the hospital.

3
00:00:05,000 --> 00:00:07,000
Renée: It’s quieter here.

4
00:00:07,000 --> 00:00:08,000
Interviewer: Thanks.
"""


def test_srt_numbered_cues_and_merging(tmp_path):
    t = read_transcript(write(tmp_path / "sub.srt", SRT.replace("\n", "\r\n"), "cp1252"))
    assert t.encoding == "cp1252"
    assert t.text == ("Interviewer: How long have you been here?\nRenée: Two years.\n"
                      "Before that, the hospital.\nIt’s quieter here.\nInterviewer: Thanks.")
    assert speakers_and_texts(t) == [
        ("Interviewer", "How long have you been here?"),
        ("Renée", "Two years.\nBefore that, the hospital.\nIt’s quieter here."),
        ("Interviewer", "Thanks."),
    ]
    check_offsets(t)


def test_srt_bad_timing_line(tmp_path):
    path = write(tmp_path / "bad.srt", SRT.replace("00:00:05,000 --> 00:00:07,000", "00:00:05"))
    with pytest.raises(TranscriptError, match="timing") as err:
        read_transcript(path)
    assert (err.value.source, err.value.line) == (str(path), 11)


def test_srt_block_without_number_or_timing(tmp_path):
    path = write(tmp_path / "bad.srt", SRT.replace("\n3\n", "\nthree\n"))
    with pytest.raises(TranscriptError, match="cue number") as err:
        read_transcript(path)
    assert err.value.line == 10


# ----------------------------------------------------------------------------- interviewer


@pytest.mark.parametrize("label", ["Interviewer", "INT", "I", "Int.", "researcher", "Facilitator",
                                   "MODERATOR", "Q", "Interviewer 2", "int:"])
def test_interviewer_labels(label):
    assert is_interviewer_label(label)


@pytest.mark.parametrize("label", [None, "", "P3", "Participant 2", "Dr Smith", "Interviewee",
                                   "A", "Isla"])
def test_not_interviewer_labels(label):
    assert not is_interviewer_label(label)


def test_interviewer_labels_are_configurable():
    assert is_interviewer_label("Dr Smith", ["dr smith", "Lead"])
    assert is_interviewer_label("LEAD", ["dr smith", "Lead"])
    assert not is_interviewer_label("Interviewer", ["dr smith"])


# ----------------------------------------------------------------------------- segment tables


def test_segments_csv(tmp_path):
    path = write(tmp_path / "ready.csv", "ID,Text,speaker,site\n"
                 's1,"We started, slowly.",P1,north\ns2,What next?,Interviewer,\n')
    segs = read_segments_table(path)
    assert [(s.id, s.document, s.text, s.speaker, s.is_interviewer) for s in segs] == [
        ("s1", "ready", "We started, slowly.", "P1", False),
        ("s2", "ready", "What next?", "Interviewer", True),
    ]
    assert (segs[0].start, segs[0].end) == (0, len("We started, slowly."))
    assert segs[0].meta == {"site": "north"} and segs[1].meta == {}


def test_segments_jsonl(tmp_path):
    rows = [{"id": 1, "text": "Café “talk”.", "document": "d1"}, {"id": "2", "text": "More."}]
    path = write(tmp_path / "ready.jsonl", "\n".join(json.dumps(r, ensure_ascii=False)
                                                     for r in rows) + "\n\n")
    segs = read_segments_table(path)
    assert [(s.id, s.document, s.speaker, s.end) for s in segs] == [
        ("1", "d1", None, len("Café “talk”.")), ("2", "ready", None, 5)]


def test_segments_csv_missing_text_column(tmp_path):
    path = write(tmp_path / "bad.csv", "id,body\n1,hello\n")
    with pytest.raises(TranscriptError, match="text") as err:
        read_segments_table(path)
    assert str(err.value).startswith(f"{path}:1:")


@pytest.mark.parametrize("suffix, content, line", [
    (".csv", "id,text\na,one\nb,two\na,three\n", 4),
    (".jsonl", '{"id": "a", "text": "one"}\n\n{"id": "a", "text": "two"}\n', 3),
])
def test_segments_duplicate_id(tmp_path, suffix, content, line):
    path = write(tmp_path / f"dup{suffix}", content)
    with pytest.raises(TranscriptError, match="duplicate id 'a'") as err:
        read_segments_table(path)
    assert (err.value.source, err.value.line) == (str(path), line)


@pytest.mark.parametrize("content, line, message", [
    ('{"id": "a", "text": "one"}\n{"id": "b", "text": \n', 2, "invalid JSON"),
    ('{"id": "a", "text": "one"}\n["b", "two"]\n', 2, "JSON object"),
    ('{"id": "a", "text": "  "}\n', 1, "empty text"),
    ('{"text": "no id"}\n', 1, "missing 'id'"),
])
def test_segments_jsonl_bad_lines(tmp_path, content, line, message):
    path = write(tmp_path / "bad.jsonl", content)
    with pytest.raises(TranscriptError, match=message) as err:
        read_segments_table(path)
    assert str(err.value).startswith(f"{path}:{line}")


def test_segments_csv_empty_text(tmp_path):
    path = write(tmp_path / "bad.csv", "id,text\na,one\nb,\n")
    with pytest.raises(TranscriptError, match="empty text") as err:
        read_segments_table(path)
    assert err.value.line == 3


# ----------------------------------------------------------------------------- examples

THEORY_WORDS = ["coherence", "participation", "workability", "appraisal", "legitimacy",
                "enrolment", "sensemaking", "negotiat", "reconfigur"]


@pytest.mark.parametrize("name", ["clinic_pharmacist_interview.txt",
                                  "frailty_review_meeting.vtt"])
def test_examples(name):
    path = EXAMPLES / name
    t = read_transcript(path)
    check_offsets(t)
    spoken = [turn for turn in t.turns if turn.speaker]
    assert 20 <= len(spoken) <= 30
    assert any(is_interviewer_label(turn.speaker) for turn in spoken)
    assert len({turn.speaker for turn in spoken}) >= 2
    raw = path.read_text(encoding="utf-8")
    assert re.search(r"[“”’–éáó]", raw)
    assert not [w for w in THEORY_WORDS if w in raw.lower()]


def test_example_txt_speakers():
    t = read_transcript(EXAMPLES / "clinic_pharmacist_interview.txt")
    assert {turn.speaker for turn in t.turns} == {"Interviewer", "P4"}  # the title is a header
    assert not any("[00:" in turn.text for turn in t.turns)


def test_parse_text_directly():
    t = parse_text("Q: Why?\nA: Because.", document="qa")
    assert speakers_and_texts(t) == [("Q", "Why?"), ("A", "Because.")]
