"""The test suite. Like every entry point, it settles the metrics directory before anything
imports prometheus_client (see app.metrics_directory)."""

from app.metrics_directory import settle_metrics_directory

settle_metrics_directory()
