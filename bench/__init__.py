"""Benchmarks: runnable modules (`python -m bench.<name>`) printing figures and a baseline."""
