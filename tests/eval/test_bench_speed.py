"""The speed benchmark's parts on the tiny real model: the texts it times, the backends side by side,
and each backend's quality on the real quotes."""

import pytest

from corpus.seed_corpus import load_seed
from eval.bench.datasets import load_npt_quotes
from eval.bench.speed import (
    _backend_lines,
    _token_counter,
    api_lines,
    api_speed,
    backend_quality,
    backend_speed,
    segment_texts,
)


def test_segment_texts_are_about_the_length_asked(tiny_model):
    count = _token_counter(tiny_model)
    texts = segment_texts(load_seed(), count, n=300, tokens=50)
    assert len(texts) == 300 and len(set(texts)) > 250
    lengths = count(texts)  # with [CLS] and [SEP]
    assert 48 <= sum(lengths) / len(lengths) <= 56 and max(lengths) <= 70


@pytest.mark.slow
def test_backends_side_by_side(tiny_model, tmp_path):
    texts = segment_texts(load_seed(), _token_counter(tiny_model), n=60)
    result = backend_speed(tiny_model, texts, tmp_path, n_docs=3, log=lambda _: None)
    rows = result["rows"]
    assert rows["end_to_end"]["segments"] == 60
    assert rows["torch_encode"]["speedup"] == pytest.approx(1.0)
    assert all(r["per_s"] > 0 and r["cpu_seconds"] > 0 for r in rows.values())
    assert result["cosine_min"] > 0.9
    text = "\n".join(_backend_lines(result, None))
    assert "int8 ONNX, encoding only" in text and "`precode code`, end to end" in text


@pytest.mark.slow
def test_the_api_with_micro_batching_on_and_off(tiny_model, tmp_path):
    texts = segment_texts(load_seed(), _token_counter(tiny_model), n=30)
    result = api_speed(tiny_model, texts, tmp_path, seconds=3, clients=4, log=lambda _: None)
    assert result["torch_encode_one"]["segments"] == 30
    assert [s["batch_wait_ms"] for s in result["settings"]] == [2.0, 0.0]
    for setting in result["settings"]:
        assert setting["single"]["requests"] > 0 and setting["single"]["errors"] == 0
        assert setting["load"]["requests"] > 0 and setting["load"]["errors"] == 0
    text = "\n".join(api_lines(result))
    assert "micro-batching on (2 ms)" in text and "micro-batching off" in text
    assert "API, 4 clients (locust" in text


def test_quality_with_each_backend(tiny_model, reference_data):
    quotes = load_npt_quotes(reference_data / "npt_quotes_dev")
    result = backend_quality(tiny_model, quotes)
    assert set(result["backends"]) == {"torch", "onnx"}
    for entry in result["backends"].values():
        assert -1.0 <= entry["kappa"] <= 1.0 and 0.0 <= entry["top2"] <= 1.0
    assert result["kappa_lost"] == pytest.approx(
        result["backends"]["torch"]["kappa"] - result["backends"]["onnx"]["kappa"])
