"""Benchmarks of the c40 telemetry backend (issue 8); see docs/PERFORMANCE.md.

Each module is a command that prints its figures (``python -m benchmarks.decoding``); ``python -m
benchmarks`` runs them all with modest default sizes and prints one table. Every figure is paired
with a reference measured in the same run and reported as a ratio, because this machine is noisy.
Nothing here is collected by pytest or run by CI.
"""
