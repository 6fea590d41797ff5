"""Benchmarks behind `namegen bench`: perf (issue 7) and quality."""
