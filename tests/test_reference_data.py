"""The rule for the reference data kept outside the repository (tests/conftest.py): only the
``reference_data`` fixture knows where it lives; where it is missing the tests that need it are
skipped with one reason, and where it is required (CI) they fail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CONFTEST = TESTS / "conftest.py"


def test_only_the_fixture_knows_where_the_reference_data_lives():
    # A new test that needs the data asks for `reference_data`; it never builds the path itself.
    spelt = re.compile(r"""shared['"]?\s*[/,]\s*['"]?data""")
    offenders = [str(p.relative_to(TESTS)) for p in sorted(TESTS.rglob("*.py"))
                 if p not in (CONFTEST, Path(__file__).resolve())
                 and spelt.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


INNER = """
import pytest


def test_reads_it(reference_data):
    assert (reference_data / "refi").is_dir()


@pytest.mark.reference_data
def test_marked():
    pass


def test_bare(tmp_path):
    pass
"""


def run_inner(tmp_path: Path, data: Path, *, require: bool = False) -> subprocess.CompletedProcess:
    """A pytest session on a small test file, under this suite's conftest."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    (suite / "test_inner.py").write_text(INNER, encoding="utf-8")
    (suite / "pytest.ini").write_text("[pytest]\nmarkers =\n    reference_data: needs it\n",
                                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PRECODE_REFERENCE_DATA", "PRECODE_REQUIRE_REFERENCE_DATA")}
    env["PRECODE_REFERENCE_DATA"] = str(data)
    if require:
        env["PRECODE_REQUIRE_REFERENCE_DATA"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
                           str(suite)], cwd=suite, env=env, capture_output=True, text=True,
                          timeout=120)


def test_missing_reference_data_skips_with_one_reason(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_inner(tmp_path, empty)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 2 skipped" in result.stdout
    reasons = re.findall(r"SKIPPED \[(\d+)\] .*?: (.*)", result.stdout)
    assert len(reasons) == 1 and reasons[0][0] == "2", result.stdout  # one reason for both
    assert (f"reference data not found: needs refi/, ci_claims/, npt_quotes_dev/, "
            f"fivewords_two_coder/, refi_exports/, agreement_reference/ in {empty}"
            ) in reasons[0][1]
    assert "set PRECODE_REFERENCE_DATA" in reasons[0][1]


def test_required_reference_data_fails_when_missing(tmp_path):
    result = run_inner(tmp_path, tmp_path / "nowhere", require=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 2 errors" in result.stdout
    assert "PRECODE_REQUIRE_REFERENCE_DATA is set, so this is an error" in result.stdout


def test_reference_data_found_where_named(tmp_path):
    data = tmp_path / "data"
    for name in ("refi", "ci_claims", "npt_quotes_dev", "fivewords_two_coder", "refi_exports",
                 "agreement_reference"):
        (data / name).mkdir(parents=True)
    result = run_inner(tmp_path, data, require=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout and f"reference data: {data}" in result.stdout
