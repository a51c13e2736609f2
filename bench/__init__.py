"""Benchmarks (see docs/performance.md once they exist)."""
