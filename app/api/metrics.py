"""GET /metrics: Prometheus exposition of the service (API and worker processes)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app import metrics
from app.api.runtime import runtime_of

router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    pool = runtime_of(request).pool
    size, idle = pool.get_size(), pool.get_idle_size()
    metrics.record_pool(in_use=size - idle, idle=idle, maximum=pool.get_max_size())
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
