"""Kubernetes probes: /livez (the loop answers) and /readyz (database usable, schema current)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.problems import problem_response
from app.api.runtime import runtime_of
from app.repositories.health import database_status

router = APIRouter(tags=["health"])

READINESS_TIMEOUT_SECONDS = 2.0


@router.get("/livez", summary="Liveness: the process and its event loop answer")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database reachable, migrations at head, not shutting down",
    responses={503: {"description": "Not ready", "content": {"application/problem+json": {}}}},
)
async def readyz(request: Request) -> Response:
    runtime = runtime_of(request)
    if runtime.shutting_down:
        return problem_response(503, "shutting down", title="Not ready", reason="shutting_down")
    try:
        reason = await asyncio.wait_for(
            database_status(runtime.pool), timeout=READINESS_TIMEOUT_SECONDS
        )
    except TimeoutError:
        reason = "database did not answer within 2 s"
    if reason is not None:
        return problem_response(503, reason, title="Not ready", reason="database")
    return JSONResponse({"status": "ready"})
