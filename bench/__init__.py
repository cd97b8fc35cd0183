"""Benchmarks: runnable modules (`python -m bench.<name>`) printing their figures and a
baseline measured in the same run. `python -m bench` lists them."""
