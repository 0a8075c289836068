"""Check one or more seed-corpus v2 files against the style guide (STYLE.md beside this file).

    python3 corpus/seed/check_batch.py corpus/seed/v2/some_scenario.jsonl [...]

Standard library only, so an author can run it anywhere. Exits 1 and names file and line for every
problem; prints the per-code counts of each file.
"""

from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

LEAF_CODES = [
    "npt.coherence.differentiation", "npt.coherence.communal_specification",
    "npt.coherence.individual_specification", "npt.coherence.internalization",
    "npt.cognitive_participation.initiation", "npt.cognitive_participation.enrolment",
    "npt.cognitive_participation.legitimation", "npt.cognitive_participation.activation",
    "npt.collective_action.interactional_workability", "npt.collective_action.relational_integration",
    "npt.collective_action.skill_set_workability", "npt.collective_action.contextual_integration",
    "npt.reflexive_monitoring.systematization", "npt.reflexive_monitoring.communal_appraisal",
    "npt.reflexive_monitoring.individual_appraisal", "npt.reflexive_monitoring.reconfiguration",
    "integrating.engaging_groups", "integrating.bridging_communication", "integrating.sensemaking",
    "integrating.negotiating",
]
ROLES = {
    "manager", "nurse", "doctor", "interviewer", "patient", "carer", "allied_health_professional",
    "commissioner", "ngo_partner", "pharmacist", "community_health_worker", "receptionist", "midwife",
    "paramedic", "social_worker", "health_care_assistant", "administrator", "dentist", "teacher",
    "volunteer",
}
FIELDS = {"id", "text", "codes", "speaker_role", "setting", "intervention", "scenario"}
# The banned vocabulary, shared with corpus/seed_corpus.py.
THEORY_TERMS = [line.strip() for line in
                (Path(__file__).parent / "theory_terms.txt").read_text("utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
THEORY_RE = re.compile(r"\b(" + "|".join(THEORY_TERMS) + r")\b", re.IGNORECASE)


def check(path: Path) -> list[str]:
    problems: list[str] = []
    scenario = path.stem
    counts: collections.Counter[str] = collections.Counter()
    n = uncoded = multi = 0
    texts: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        if set(row) != FIELDS:
            problems.append(f"{where}: fields must be exactly {sorted(FIELDS)}, got {sorted(row)}")
            continue
        n += 1
        if row["scenario"] != scenario:
            problems.append(f"{where}: scenario {row['scenario']!r} is not the file name {scenario!r}")
        if row["id"] != f"{scenario}-{n:03d}":
            problems.append(f"{where}: id {row['id']!r}, expected {scenario}-{n:03d}")
        if row["speaker_role"] not in ROLES:
            problems.append(f"{where}: unknown speaker_role {row['speaker_role']!r}")
        text = row["text"]
        if not isinstance(text, str) or len(text.split()) < 3:
            problems.append(f"{where}: text too short")
            continue
        if text in texts:
            problems.append(f"{where}: duplicate text")
        texts.add(text)
        hit = THEORY_RE.search(text)
        if hit:
            problems.append(f"{where}: theory vocabulary {hit.group(0)!r}")
        codes = row["codes"]
        if not isinstance(codes, list) or len(codes) > 2 or len(set(codes)) != len(codes):
            problems.append(f"{where}: codes must be a list of at most two distinct codes")
            continue
        for c in codes:
            if c not in LEAF_CODES:
                problems.append(f"{where}: unknown code {c!r}")
        if row["speaker_role"] == "interviewer" and codes:
            problems.append(f"{where}: interviewer turns are uncoded")
        counts.update(codes)
        uncoded += not codes
        multi += len(codes) > 1
    npt_missing = [c for c in LEAF_CODES[:16] if counts[c] < 2]
    int_missing = [c for c in LEAF_CODES[16:] if counts[c] < 1]
    if npt_missing:
        problems.append(f"{path}: NPT codes with fewer than 2 excerpts: {npt_missing}")
    if int_missing:
        problems.append(f"{path}: integrating codes with no excerpt: {int_missing}")
    if n < 55:
        problems.append(f"{path}: {n} excerpts, want about 62 (at least 55)")
    if uncoded < 6:
        problems.append(f"{path}: {uncoded} uncoded excerpts, want about 10")
    print(f"{path}: {n} excerpts, {uncoded} uncoded, {multi} with two codes")
    for c in LEAF_CODES:
        print(f"  {counts[c]:3d}  {c}")
    return problems


def main(argv: list[str]) -> int:
    problems = [p for arg in argv for p in check(Path(arg))]
    for p in problems:
        print("PROBLEM", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
