"""Prometheus metrics: what operators alert on. Label values are bounded (no ids, no emails)
and known values are pre-initialised so dashboards show zeros, not gaps."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.accounts import AccountSource
from app.metrics_directory import MULTIPROC_ENV
from app.vocabulary import TERMINAL_RUN_STATUSES, CoverageState, RunTrigger

ROW_OPERATIONS = ("inserted", "updated", "unchanged", "deleted")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
RETRY_REASONS = ("rate_limited", "server_error", "timeout", "connection", "invalid_body")
POOL_STATES = ("in_use", "idle", "max")

RUNS = Counter("ingestion_runs", "Finished runs.", ["trigger", "status"])
RUN_DURATION = Histogram(
    "ingestion_run_duration_seconds",
    "Wall time of finished runs.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 57600),
)
ROWS = Counter("ingestion_rows", "Fact rows written, by outcome.", ["table", "operation"])
UPSTREAM_REQUESTS = Counter(
    "upstream_requests", "Upstream HTTP requests.", ["upstream", "endpoint", "status_class"]
)
UPSTREAM_DURATION = Histogram(
    "upstream_request_duration_seconds",
    "Upstream request latency.",
    ["upstream", "endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
UPSTREAM_RETRIES = Counter("upstream_retries", "Upstream retries.", ["upstream", "reason"])
UPSTREAM_DRIFT = Counter(
    "upstream_drift",
    "Answers that say an endpoint is going away: a Deprecation or Sunset header (`deprecated`),"
    " or 404/410 from an endpoint that answered before (`gone`).",
    ["upstream", "endpoint", "signal"],
)
DRIFT_SIGNALS = ("deprecated", "gone")
LAST_SUCCESS = Gauge(
    "ingestion_last_success_timestamp_seconds",
    "When an account's source last finished a run successfully (Unix time).",
    ["account", "source"],
    multiprocess_mode="max",
)
COVERAGE_DAYS = Gauge(
    "ingestion_coverage_days",
    "Days of the last BACKFILL_HORIZON_DAYS per account, source and coverage state (refreshed"
    " at scrape).",
    ["account", "source", "state"],
    multiprocess_mode="mostrecent",
)
SOURCE_MEASURES = Gauge(
    "ingestion_source_measure",
    "Numbers a source measured in its latest successful run (its `details`, flattened), e.g."
    " cursor_spend's reconciliation_largest_difference_usd (refreshed at scrape).",
    ["account", "source", "measure"],
    multiprocess_mode="mostrecent",
)
DB_POOL = Gauge(
    "db_pool_connections", "asyncpg pool connections.", ["state"], multiprocess_mode="livesum"
)
ALERT_DELIVERIES = Counter(
    "alert_deliveries", "Webhook delivery attempts of alerts, by outcome.", ["outcome"]
)
HTTP_REQUESTS = Counter(
    "http_server_requests", "HTTP requests served.", ["method", "route", "status_class"]
)
HTTP_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def _initialise() -> None:
    for trigger in RunTrigger:
        for status in TERMINAL_RUN_STATUSES:
            RUNS.labels(trigger, status)
    for state in POOL_STATES:
        DB_POOL.labels(state)
    for outcome in ("delivered", "retried", "failed"):
        ALERT_DELIVERIES.labels(outcome)


_initialise()


def initialise_endpoints(endpoints: Iterable[tuple[str, str]]) -> None:
    """Zero series for every (upstream, endpoint), from the registry's upstreams."""
    for upstream, endpoint in endpoints:
        UPSTREAM_DURATION.labels(upstream, endpoint)
        for status_class in STATUS_CLASSES:
            UPSTREAM_REQUESTS.labels(upstream, endpoint, status_class)
        for reason in RETRY_REASONS:
            UPSTREAM_RETRIES.labels(upstream, reason)
        for signal in DRIFT_SIGNALS:
            UPSTREAM_DRIFT.labels(upstream, endpoint, signal)


def initialise_tables(tables: Iterable[str]) -> None:
    """Zero series for every table a registered source writes."""
    for table in tables:
        for operation in ROW_OPERATIONS:
            ROWS.labels(table, operation)


def initialise_accounts(parts: Iterable[tuple[str, str]]) -> None:
    """Series for every configured (account, source)."""
    for account, source in parts:
        LAST_SUCCESS.labels(account, source)


def initialise_routes(routes: Iterable[tuple[str, str]]) -> None:
    """Zero series for every (method, route template), so the families exist before the first
    request (the multiprocess exposition omits families without series)."""
    for method, template in routes:
        HTTP_REQUESTS.labels(method, template, "2xx")
        HTTP_DURATION.labels(method, template)


def status_class(status: int | None) -> str:
    return "error" if status is None else f"{status // 100}xx"


def record_rows(table: str, inserted: int, updated: int, unchanged: int, deleted: int) -> None:
    for operation, count in zip(
        ROW_OPERATIONS, (inserted, updated, unchanged, deleted), strict=True
    ):
        if count:
            ROWS.labels(table, operation).inc(count)


def record_run(trigger: str, status: str, seconds: float | None) -> None:
    RUNS.labels(trigger, status).inc()
    if seconds is not None:
        RUN_DURATION.observe(seconds)


def record_source_successes(parts: Iterable[tuple[str, str]]) -> None:
    now = time.time()
    for account, source in parts:
        LAST_SUCCESS.labels(account, source).set(now)


def record_coverage(counts: Mapping[AccountSource, Mapping[CoverageState, int]]) -> None:
    for (account, source), states in counts.items():
        for state, days in states.items():
            COVERAGE_DAYS.labels(account, source, state).set(days)


def record_details(details: Mapping[tuple[str, str], Mapping[str, object]]) -> None:
    """Every number of each (account, source)'s details, as `<key>_<key>` measures (text is
    skipped)."""
    for (account, source), measured in details.items():
        for measure, value in _numbers(measured, ""):
            SOURCE_MEASURES.labels(account, source, measure).set(value)


def _numbers(values: Mapping[str, object], prefix: str) -> Iterable[tuple[str, float]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _numbers(value, f"{name}_")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield name, float(value)
        elif isinstance(value, str):
            try:
                yield name, float(Decimal(value))
            except InvalidOperation:
                continue  # a date, an email: not a measure


def record_pool(in_use: int, idle: int, maximum: int) -> None:
    DB_POOL.labels("in_use").set(in_use)
    DB_POOL.labels("idle").set(idle)
    DB_POOL.labels("max").set(maximum)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV)


def exposition() -> bytes:
    """Every process's metrics (API and worker) in one Prometheus exposition.

    An embedder that created the app without an entry point settling the metrics directory
    (app.metrics_directory) gets this process's metrics alone."""
    if MULTIPROC_ENV not in os.environ:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def forget_process(pid: int) -> None:
    """A child process exited: its live gauges must not be summed any more."""
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
