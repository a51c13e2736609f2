"""GET /metrics: Prometheus exposition of the service (API and worker processes).

A scrape never queries the database: the coverage and pool gauges are refreshed in the
background every METRICS_REFRESH_SECONDS (`refresh_forever`), so any number of scrapers cost
the shared pool nothing. With METRICS_PORT the same exposition is also served on a port of its
own, without a token (`serve_on_own_port`), for a scrape the NetworkPolicy lets in.
"""

from __future__ import annotations

import asyncio
import threading

import asyncpg
import prometheus_client
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, multiprocess
from prometheus_client.exposition import start_http_server

from app import metrics
from app.api.auth import READ
from app.api.problems import PROTECTED
from app.config import Settings
from app.logs import get_logger
from app.orchestration.accounts import configured_parts
from app.orchestration.heal import horizon_window
from app.orchestration.run_request import utc_today
from app.repositories import coverage as coverage_repo
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS

router = APIRouter(tags=["operations"], responses=PROTECTED)
log = get_logger(__name__)
COVERAGE_TIMEOUT_SECONDS = 10.0


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, dependencies=[READ])
async def prometheus_metrics() -> Response:
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def refresh_once(pool: asyncpg.Pool, settings: Settings) -> None:
    size, idle = pool.get_size(), pool.get_idle_size()
    metrics.record_pool(in_use=size - idle, idle=idle, maximum=pool.get_max_size())
    start, end = horizon_window(settings, utc_today())
    parts = configured_parts(settings)
    async with pool.acquire(timeout=COVERAGE_TIMEOUT_SECONDS) as connection:
        days = await coverage_repo.coverage(connection, parts, start, end)
        details = await runs_repo.latest_details(connection, sorted({p.source for p in parts}))
    metrics.record_coverage(coverage_repo.count_states(days, parts))
    metrics.record_details(details)


async def refresh_quietly(pool: asyncpg.Pool, settings: Settings) -> None:
    """One refresh; a database away keeps the gauges' last values."""
    try:
        await asyncio.wait_for(refresh_once(pool, settings), COVERAGE_TIMEOUT_SECONDS)
    except DATABASE_ERRORS as exc:  # TimeoutError included
        log.warning("coverage metrics not refreshed", error=type(exc).__name__)


async def refresh_forever(pool: asyncpg.Pool, settings: Settings) -> None:
    """The gauges a scrape shows, refreshed on a timer (the lifespan did the first)."""
    while True:
        await asyncio.sleep(settings.metrics_refresh_seconds)
        await refresh_quietly(pool, settings)


_started_ports: set[int] = set()
_lock = threading.Lock()


def serve_on_own_port(host: str, port: int) -> None:
    """prometheus_client's own HTTP server (a daemon thread) on `port`, once per process."""
    with _lock:
        if port in _started_ports:
            return
        registry = prometheus_client.REGISTRY  # this process alone, without a directory
        if metrics.multiprocess_dir() is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        start_http_server(port, addr=host, registry=registry)
        _started_ports.add(port)
