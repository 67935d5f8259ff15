"""Benchmarks: each ``bench_*.py`` module exposes ``run() -> list[dict]``.

Rows are ``{"name", "value", "unit", "baseline", "ratio"}``; the baseline is measured
in the same process run, so the figure is a ratio and survives a noisy machine.
"""
