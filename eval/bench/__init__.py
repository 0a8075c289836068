"""Benchmarks: quality on real data, speed, load. Run by ``make bench`` or ``precode bench``;
results go to ``eval/results/``. The only part of ``eval/`` that may import ``training`` and
``service`` (it must train and serve to measure); the product never imports it."""
