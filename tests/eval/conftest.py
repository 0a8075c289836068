"""Two coders' annotation sheets typed in here, laid out like the ci_claims data set's
``human_annotator_*.csv`` (a title line, an instructions line, the header ``#, Claim ID, Claim
Text, Your Code, Notes``, then the claims under theme header lines), so that reading sheets and
agreement from sheets are tested without the reference data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

# (theme, claim id, claim text, annotator 1's code, annotator 2's code, annotator 2's note)
CLAIMS = [
    ("Build Patterns", "C101", "SHORTEN THE BUILD TIME", "FASTER BUILDS", "FASTER BUILDS", ""),
    ("Build Patterns", "C102", "FEWER BROKEN BUILDS, AND FASTER FIXES", "BUILD HEALTH",
     "BUILD HEALTH", ""),
    ("Build Patterns", "C103", "MORE SUCCESSFUL BUILDS", "BUILD HEALTH", "BUILD HEALTH", ""),
    ("Development Activities", "C104", "LESS CHECK-IN OVERHEAD", "LESS WORKLOAD",
     "LESS WORKLOAD", ""),
    ("Development Activities", "C105", 'THE TEAM DID LESS "PAPERWORK"', "LESS WORKLOAD",
     "LESS WORKLOAD", ""),
    ("Development Activities", "C106", "TEAMS FEEL LESS PRODUCTIVE", "LOWER PRODUCTIVITY",
     "BUILD HEALTH", "unsure: productivity or builds?"),
    ("Software Process", "C107", "RELEASES COME MORE OFTEN", "MORE RELEASES", "MORE RELEASES",
     ""),
    ("Software Process", "C108", "MONEY, TIME AND SKILLS ARE NEEDED", "ORGANIZATIONAL CHALLENGES",
     "TECHNICAL CHALLENGES", ""),
    ("Software Process", "C109", "FLAKY TESTS GET IN THE WAY", "TECHNICAL CHALLENGES",
     "TECHNICAL CHALLENGES", ""),
    ("Software Process", "C110", "FEWER MANUAL STEPS", "PROCESS AUTOMATION", "PROCESS AUTOMATION",
     ""),
]
THEME_OF = {"FASTER BUILDS": "BUILD PATTERNS", "BUILD HEALTH": "BUILD PATTERNS",
            "LESS WORKLOAD": "DEVELOPMENT ACTIVITIES",
            "LOWER PRODUCTIVITY": "DEVELOPMENT ACTIVITIES",
            "MORE RELEASES": "SOFTWARE PROCESS", "ORGANIZATIONAL CHALLENGES": "SOFTWARE PROCESS",
            "TECHNICAL CHALLENGES": "SOFTWARE PROCESS", "PROCESS AUTOMATION": "SOFTWARE PROCESS"}


def _cell(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in ',"') else value


def sheet(annotator: int) -> str:
    lines = [f"Deductive Coding Annotation Sheet — Annotator {annotator},,,,",
             '"Instructions: For each claim, assign ONE code from the taxonomy sheet. Write the '
             'exact code name in column D. Leave column E for comments if uncertain.",,,,',
             "#,Claim ID,Claim Text,Your Code,Notes (optional)"]
    theme = None
    for n, (claim_theme, cid, text, one, two, note) in enumerate(CLAIMS, start=1):
        if claim_theme != theme:
            theme = claim_theme
            lines.append(f"▸  Theme: {theme},,,,")
        code, note = (one, "") if annotator == 1 else (two, note)
        lines.append(",".join([str(n), cid, _cell(text), _cell(code), _cell(note)]))
    return "\r\n".join(lines) + "\r\n"  # spreadsheet programs write CRLF


@dataclass
class Sheets:
    folder: Path
    files: list[Path]
    codes: dict[str, list[str]]  # coder (file stem) -> codes in claim order
    theme_of: dict[str, str]


@pytest.fixture
def annotation_sheets(tmp_path) -> Sheets:
    """``human_annotator_1.csv`` and ``human_annotator_2.csv`` in a folder of their own: ten claims
    under three themes; the two coders disagree on C106 (across themes) and C108 (within one)."""
    folder = tmp_path / "sheets"
    folder.mkdir()
    files = []
    for annotator in (1, 2):
        path = folder / f"human_annotator_{annotator}.csv"
        path.write_bytes(sheet(annotator).encode("utf-8"))
        files.append(path)
    codes = {"human_annotator_1": [c[3] for c in CLAIMS],
             "human_annotator_2": [c[4] for c in CLAIMS]}
    return Sheets(folder, files, codes, dict(THEME_OF))


def kappa_by_hand(a: list[str], b: list[str]) -> float:
    """Cohen's kappa from its definition, for checking the figures on the typed sheets."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum(a.count(k) * b.count(k) for k in set(a) | set(b)) / n**2
    return (observed - expected) / (1 - expected)
