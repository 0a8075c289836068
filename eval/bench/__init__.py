"""Benchmarks: quality on real data, speed, load. Run by ``make bench`` or ``precode bench``;
results go to ``eval/results/``. The only part of ``eval/`` that may import ``training`` and
``service`` (it must train and serve to measure); the product never imports it.

Each benchmark is a module (``python -m eval.bench.<name>``); the modules are the public API.
"""

__all__ = ['datasets', 'npt_probe', 'quality', 'real_data', 'scale', 'speed', 'systems']
