"""The suggestion model: encoder (and its int8 ONNX backend), heads, exemplar index, and the
Suggester that combines them and alone reads and writes a model directory.

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "Suggester": "models.suggester",
    "Suggestion": "models.suggester",
    "Evidence": "models.suggester",
    "SegmentSuggestions": "models.suggester",
    "SuggestionRequest": "models.suggester",
    "is_model_dir": "models.suggester",
    "read_manifest": "models.suggester",
    "load_encoder": "models.encoder",
    "encode": "models.encoder",
    "default_base_model": "models.encoder",
    "OnnxEncoder": "models.onnx_encoder",
    "export_onnx": "models.onnx_encoder",
    "ExemplarIndex": "models.index",
    "Exemplar": "models.index",
    "read_exemplars": "models.index",
    "MultiLabelHead": "models.head",
})
