"""Benchmarks behind `namegen bench`: speed (perf), serving, soak and quality."""
