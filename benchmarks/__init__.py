"""Benchmarks, run as scripts (``.venv/bin/python benchmarks/bench_bokeh.py``); each reports ratios against a
baseline measured in the same process."""
