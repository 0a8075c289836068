"""Turning coded excerpts into a model: fine-tuning, heads, calibration, the built-in model.

The public API is named in ``__all__``; each name is imported from its module on first use.
"""

from corpus.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "train_model": "training.train",
    "refit_model": "training.train",
    "TrainingArguments": "training.args",
    "ensure_builtin_model": "training.builtin",
    "builtin_model_dir": "training.builtin",
    "BUILTIN_ARGS": "training.builtin",
    "builtin_cache": "training.builtin",
    "ModelCache": "training.model_cache",
    "BuildCancelled": "training.model_cache",
    "calibrate": "training.calibration",
    "choose_classes": "training.calibration",
    "split_heldout": "training.calibration",
    "heldout_scores": "training.calibration",
    "recalibrate": "training.recalibration",
})
