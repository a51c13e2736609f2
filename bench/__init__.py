"""Benchmarks (see docs/performance.md). Like every entry point, the bench settles the metrics
directory before anything imports prometheus_client (see app.metrics_directory)."""

from app.metrics_directory import settle_metrics_directory

settle_metrics_directory()
