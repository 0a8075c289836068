"""The interview the browser tests review: turns like the tiny model's coded excerpts, each
said twice in nearly the same words (near-duplicates the queue must spread out), between an
interviewer's questions."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
QUESTIONS = ["Could you say more about that?", "How did that come about?", "And then?",
             "What happened next?"]


def interview_text() -> str:
    rows = [json.loads(line) for line in (DATA / "tiny_coded.jsonl").read_text().splitlines()]
    coded = [r["text"] for r in rows if r["codes"]]
    lines = ["Interviewer: Tell me how the new service was set up."]
    for i, text in enumerate(coded):
        lines.append(f"P1: {text}")
        lines.append(f"Interviewer: {QUESTIONS[i % len(QUESTIONS)]}")
        lines.append(f"P1: Honestly, {text[0].lower()}{text[1:]}")
        lines.append("Interviewer: I see.")
    return "\n".join(lines) + "\n"
