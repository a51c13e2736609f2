"""GET /metrics: Prometheus exposition of the service (API and worker processes)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app import metrics
from app.api.runtime import runtime_of
from app.logs import get_logger
from app.orchestration.heal import horizon_window
from app.orchestration.run_request import utc_today
from app.orchestration.sources.registry import REGISTRY
from app.repositories import coverage as coverage_repo
from app.repositories import runs as runs_repo
from app.repositories.database import DATABASE_ERRORS

router = APIRouter(tags=["operations"])
log = get_logger(__name__)
COVERAGE_TIMEOUT_SECONDS = 2.0


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    pool = runtime.pool
    size, idle = pool.get_size(), pool.get_idle_size()
    metrics.record_pool(in_use=size - idle, idle=idle, maximum=pool.get_max_size())
    try:
        await asyncio.wait_for(_refresh_coverage(request), COVERAGE_TIMEOUT_SECONDS)
    except DATABASE_ERRORS as exc:
        # A scrape answers whatever the database does; the gauges keep their last values.
        log.warning("coverage metrics not refreshed", error=type(exc).__name__)
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _refresh_coverage(request: Request) -> None:
    settings = runtime_of(request).settings
    start, end = horizon_window(settings, utc_today())
    sources = REGISTRY.configured(settings)
    async with runtime_of(request).pool.acquire(timeout=COVERAGE_TIMEOUT_SECONDS) as connection:
        days = await coverage_repo.coverage(connection, sources, start, end)
        details = await runs_repo.latest_details(connection, sources)
    metrics.record_coverage(coverage_repo.count_states(days, sources))
    metrics.record_details(details)
