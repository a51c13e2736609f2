"""Fixtures for integration tests: the service in process (ASGI) with its real lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from tests.support.services import (  # noqa: F401 - fixtures
    BearerUnlessGiven,
    Simulator,
    admin_dsn,
    database_dsn,
    db,
    http_client,
    logs_restored,
    pool,
    simulator,
    upstreams,
)

TOKEN = "test-api-token-0123456789abcdefghijkl"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WINDOW = {"start_date": "2026-08-01", "end_date": "2026-08-03"}


@pytest.fixture
async def api(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> AsyncIterator[httpx.AsyncClient]:
    settings = simulator.settings(database_url=database_dsn, worker_poll_seconds=0.2)
    async with serve(settings) as client:
        yield client


@asynccontextmanager
async def serve(settings: Settings, token: str | None = TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (pool, worker, …), called in-process over ASGI; the client
    sends `token` unless a request names its own (None: a client without one)."""
    app = create_app(settings)
    auth = BearerUnlessGiven(token) if token is not None else None
    async with LifespanManager(app, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            auth=auth, transport=transport, base_url="http://service"
        ) as client:
            yield client


async def wait_for(
    client: httpx.AsyncClient,
    location: str,
    within: float = 60,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The run at `location` once it has ended (`headers`: the caller's, if the client sends
    none of its own)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        run = (await client.get(location, headers=headers)).json()
        if run["status"] not in ("queued", "running"):
            return run
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.1)
