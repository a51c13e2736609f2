"""Probes: /livez needs nothing; /readyz needs the database and the schema at head."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import load_settings
from app.main import create_app
from app.repositories.migrations import upgrade_to_head
from tests.integration.conftest import TOKEN
from tests.support.services import BearerUnlessGiven, create_database, drop_database


@pytest.fixture
async def own_database(admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(admin_dsn, "aup_health")
    yield dsn
    await drop_database(admin_dsn, dsn)


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        auth=BearerUnlessGiven(TOKEN),
        transport=httpx.ASGITransport(app=app),
        base_url="http://service",
    )  # type: ignore[arg-type]


async def _set_connections(admin_dsn: str, dsn: str, allowed: bool) -> None:
    name = dsn.partition("?")[0].rsplit("/", 1)[1]
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(
            f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'
        )
        if not allowed:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
    finally:
        await connection.close()


async def test_ready_then_database_down_then_back(admin_dsn: str, own_database: str) -> None:
    await asyncio.to_thread(upgrade_to_head, own_database)
    app = create_app(load_settings(database_url=own_database, scheduler_enabled=False))
    async with LifespanManager(app), _client(app) as client:
        assert (await client.get("/livez")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text

        await _set_connections(admin_dsn, own_database, allowed=False)
        try:
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.headers["content-type"] == "application/problem+json"
            body = down.json()
            assert body["status"] == 503 and body["reason"] == "database"
            assert "unreachable" in body["detail"]
            assert own_database not in down.text  # no DSN in the reason
            assert (await client.get("/livez")).status_code == 200  # liveness has no dependency
        finally:
            await _set_connections(admin_dsn, own_database, allowed=True)
        for _ in range(20):  # a pooled connection that died is replaced on the next acquire
            if (await client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await client.get("/readyz")).status_code == 200


async def test_not_ready_until_migrated(own_database: str) -> None:
    app = create_app(load_settings(database_url=own_database, scheduler_enabled=False))
    async with LifespanManager(app), _client(app) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert "schema at nothing" in response.json()["detail"]
        await asyncio.to_thread(upgrade_to_head, own_database)
        assert (await client.get("/readyz")).status_code == 200


async def test_not_ready_once_shutdown_has_begun(database_dsn: str) -> None:
    app = create_app(load_settings(database_url=database_dsn, scheduler_enabled=False))
    async with LifespanManager(app), _client(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        app.state.runtime.shutting_down = True
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["reason"] == "shutting_down"


async def test_unreachable_server_at_start_is_reported_not_fatal() -> None:
    app = create_app(
        load_settings(database_url="postgresql://nobody@127.0.0.1:1/none", scheduler_enabled=False)
    )
    async with LifespanManager(app), _client(app) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("database unreachable")
