"""Shared fixtures: a tiny real model trained once per test session (seconds, not minutes), and
the reference data that lives outside the repository.

Reference data: real datasets and published files (REFI-QDA schemas and sample projects, the
ci_claims annotation sheets) are kept beside the project in ``../shared/data``, never in the
repository. Tests that read them ask for the ``reference_data`` fixture (or carry the
``reference_data`` marker); everything else builds its own tiny data. Where the folder is not
there (a user's clone) those tests are skipped with one reason; where it must be there (CI sets
``PRECODE_REQUIRE_REFERENCE_DATA=1``) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import models.encoder  # noqa: F401  (offline mode, set before any model-hub library loads)
from eval.bench.datasets import REFERENCE_ENV, reference_data_dir

DATA = Path(__file__).parent / "data"

# ---- reference data (outside the repository) ---------------------------------------------------
REQUIRE_ENV = "PRECODE_REQUIRE_REFERENCE_DATA"
# The datasets the tests read, each a folder of the reference data. A test that needs another one
# adds it here, so that a partial copy is reported like a missing one.
REFERENCE_DATASETS = ("refi", "ci_claims", "npt_quotes_dev", "fivewords_two_coder", "refi_exports",
                      "agreement_reference")


def _missing_reference_data() -> str | None:
    """Why the reference data cannot be used, or None when it is all there."""
    folder = reference_data_dir()
    missing = [name for name in REFERENCE_DATASETS if not (folder / name).is_dir()]
    if not missing:
        return None
    return (f"reference data not found: needs {', '.join(f'{m}/' for m in missing)} in {folder} "
            f"(set {REFERENCE_ENV} to the shared data folder)")


def _require_reference_data() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")


def _check_reference_data() -> Path:
    reason = _missing_reference_data()
    if reason is not None:
        if _require_reference_data():
            pytest.fail(f"{reason}; {REQUIRE_ENV} is set, so this is an error", pytrace=False)
        pytest.skip(reason)
    return reference_data_dir()


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """The reference data folder; the test is skipped (or fails, under
    ``PRECODE_REQUIRE_REFERENCE_DATA=1``) when it is not there."""
    return _check_reference_data()


def pytest_collection_modifyitems(config, items):
    # `-m "not reference_data"` selects what a bare clone can run
    for item in items:
        if "reference_data" in getattr(item, "fixturenames", ()) and \
                item.get_closest_marker("reference_data") is None:
            item.add_marker(pytest.mark.reference_data)


def pytest_runtest_setup(item):
    # a test marked without asking for the fixture is checked the same way
    if item.get_closest_marker("reference_data") is not None:
        _check_reference_data()


def pytest_report_header(config):
    reason = _missing_reference_data()
    if reason is None:
        return f"reference data: {reference_data_dir()}"
    then = "fail" if _require_reference_data() else "are skipped"
    return f"{reason}; the tests that need it {then}"


@pytest.fixture(scope="session")
def npt_integrating():
    from corpus.codebook_files import load_codebooks

    return load_codebooks("npt,integrating")


@pytest.fixture(scope="session")
def tiny_excerpts(npt_integrating):
    from corpus.excerpts import read_excerpts

    return read_excerpts(DATA / "tiny_coded.jsonl", npt_integrating)


TINY_ARGS = dict(epochs=1, pairs_per_excerpt=2, max_pairs=48, batch_size=8, heldout_share=0.3,
                 seed=0)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_excerpts, npt_integrating) -> Path:
    """A real model directory: fine-tuned encoder, head, thresholds, FAISS index."""
    from training.args import TrainingArguments
    from training.train import train_model

    out = tmp_path_factory.mktemp("models") / "tiny"
    return train_model(tiny_excerpts, npt_integrating, out, args=TrainingArguments(**TINY_ARGS),
                       progress=False)


@pytest.fixture(scope="session")
def seed_sourced_model(tmp_path_factory, tiny_excerpts, npt_integrating) -> Path:
    """A model whose manifest says it learnt from precode's seed corpus, as the built-in model's
    does, and that was never calibrated on anyone's codings (base encoder, seconds)."""
    from training.args import TrainingArguments
    from training.train import train_model

    out = tmp_path_factory.mktemp("models") / "seed-sourced"
    return train_model(tiny_excerpts, npt_integrating, out,
                       args=TrainingArguments(epochs=0, heldout_share=0.3, seed=0),
                       progress=False, sources=["precode seed corpus (v1)"])


@pytest.fixture(scope="session")
def tiny_suggester(tiny_model):
    from models.suggester import Suggester

    return Suggester.load(tiny_model)
