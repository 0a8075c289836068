"""The int8 ONNX backend of the encoder on the tiny real model: it embeds like the PyTorch encoder,
suggests the same top codes, is written at training time, and is made on first load of a model
directory that lacks it; PyTorch can be forced."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from corpus.errors import PrecodeInputError
from models.onnx_encoder import ONNX_FILE, OnnxEncoder
from models.suggester import Suggester

SEED = Path(__file__).parents[2] / "corpus" / "seed" / "excerpts.jsonl"


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """Interview turns of the seed corpus, short and long (one is cut at 256 tokens)."""
    rows = [json.loads(line) for line in SEED.read_text(encoding="utf-8").splitlines()]
    texts = [r["text"] for r in rows[::23]][:60]
    return [*texts, " ".join(texts[:12]), "Yes."]


@pytest.fixture(scope="module")
def torch_suggester(tiny_model):
    return Suggester.load(tiny_model, backend="torch")


@pytest.fixture(scope="module")
def onnx_suggester(tiny_model):
    return Suggester.load(tiny_model, backend="onnx")


def test_training_writes_the_export_and_cpu_loads_use_it(tiny_model, monkeypatch):
    monkeypatch.delenv("PRECODE_ENCODER_BACKEND", raising=False)
    assert (tiny_model / ONNX_FILE).stat().st_size > 1_000_000
    model = Suggester.load(tiny_model)
    assert model.backend == "onnx" and isinstance(model.encoder, OnnxEncoder)


def test_the_onnx_backend_reads_the_tokens_sentence_transformers_reads(
        torch_suggester, onnx_suggester, sentences):
    features = torch_suggester.encoder.tokenize(sentences)
    expected = [ids[mask.bool()].tolist() for ids, mask in
                zip(features["input_ids"], features["attention_mask"], strict=True)]
    assert onnx_suggester.encoder.token_ids(sentences) == expected
    assert max(map(len, expected)) == torch_suggester.encoder.max_seq_length  # one is cut


def test_onnx_embeddings_are_close_to_torch(torch_suggester, onnx_suggester, sentences):
    a = torch_suggester.embed(sentences, batch_size=32)
    b = onnx_suggester.embed(sentences, batch_size=32)
    assert b.shape == a.shape and b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    # measured on this model: min 0.97-0.98, mean 0.99
    assert cos.min() >= 0.95 and cos.mean() >= 0.98, (cos.min(), cos.mean())
    # the right text in the right row: each ONNX row is nearest to its own torch row
    assert ((b @ a.T).argmax(axis=1) == np.arange(len(sentences))).all()


def test_both_backends_suggest_the_same_top_codes(torch_suggester, onnx_suggester, sentences):
    def top(model):
        return [max(r.scores, key=r.scores.get) for r in model.suggest(sentences, all_scores=True)]

    same = sum(x == y for x, y in zip(top(torch_suggester), top(onnx_suggester), strict=True))
    assert same >= 0.95 * len(sentences), f"{same} of {len(sentences)}"


def test_a_model_saved_without_the_export_exports_on_first_load(tiny_suggester, tmp_path):
    folder = tiny_suggester.copy().save(tmp_path / "plain", export=False)
    assert not (folder / ONNX_FILE).exists()
    first = Suggester.load(folder, backend="auto")
    assert first.backend == "onnx" and (folder / ONNX_FILE).exists()
    written = (folder / ONNX_FILE).stat().st_mtime_ns
    again = Suggester.load(folder, backend="auto")
    assert again.backend == "onnx" and (folder / ONNX_FILE).stat().st_mtime_ns == written
    texts = ["We counted how many forms came back each month.", "Yes."]
    np.testing.assert_array_equal(first.embed(texts), again.embed(texts))


def test_a_broken_export_is_made_again(tiny_model, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_model, folder)
    (folder / ONNX_FILE).write_bytes(b"not an onnx model")
    model = Suggester.load(folder, backend="onnx")
    assert model.backend == "onnx" and (folder / ONNX_FILE).stat().st_size > 1_000_000


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_model_directory_is_exported_for_the_process_only(tiny_suggester, tmp_path):
    folder = tiny_suggester.copy().save(tmp_path / "readonly", export=False)
    folder.chmod(0o555)
    try:
        model = Suggester.load(folder, backend="auto")
        assert model.backend == "onnx" and not (folder / ONNX_FILE).exists()
        assert model.embed(["Yes."]).shape == (1, 384)
    finally:
        folder.chmod(0o755)


def test_saving_an_onnx_suggester_keeps_encoder_and_export(onnx_suggester, tmp_path):
    folder = onnx_suggester.copy().save(tmp_path / "again")
    assert (folder / "encoder" / "modules.json").exists() and (folder / ONNX_FILE).exists()
    reloaded = Suggester.load(folder)
    texts = ["I told pharmacy we would cover their Saturday shift."]
    np.testing.assert_array_equal(reloaded.embed(texts), onnx_suggester.embed(texts))


def test_torch_can_be_forced(tiny_model, monkeypatch):
    monkeypatch.setenv("PRECODE_ENCODER_BACKEND", "torch")
    model = Suggester.load(tiny_model)
    assert model.backend == "torch" and isinstance(model.encoder, SentenceTransformer)
    monkeypatch.setenv("PRECODE_ENCODER_BACKEND", "tensorrt")
    with pytest.raises(PrecodeInputError, match="PRECODE_ENCODER_BACKEND"):
        Suggester.load(tiny_model)


def test_a_refit_keeps_the_encoder_and_its_export(tiny_model, tiny_excerpts, tmp_path):
    from training.train import refit_model

    out = refit_model(tiny_model, tiny_excerpts[:40], tmp_path / "refit")
    assert (out / ONNX_FILE).read_bytes() == (tiny_model / ONNX_FILE).read_bytes()
    assert Suggester.load(out).backend == "onnx"
