"""Benchmarks against peer tools (issue 8): run with ``python bench/run.py`` (see bench/README.md)."""
