"""Fixtures for end-to-end tests: real service processes on a fresh database."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.repositories.migrations import upgrade_to_head
from app.simulator.app import SimulatorOptions
from app.simulator.model import GroundTruth
from tests.support.services import (  # noqa: F401 - fixtures
    Simulator,
    admin_dsn,
    create_database,
    database_dsn,
    db,
    drop_database,
    http_client,
    pool,
    simulator,
    start_simulator,
    upstreams,
)

TOKEN = "e2e-token-abcdefghijklmnop0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# A schedule firing every minute; each slot heals three days, as the old lookback window did.
EVERY_MINUTE = {
    "SCHEDULER_ENABLED": "true",
    "SCHEDULE_CRON": "* * * * *",
    "BACKFILL_HORIZON_DAYS": "3",
}
WINDOW = {"start_date": "2026-08-01", "end_date": "2026-08-03"}


@dataclass
class Service:
    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def logs(self) -> str:
        """Everything the process wrote to stderr (a file: a pipe nobody reads would fill up
        and block the service)."""
        return self.log_path.read_text()

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"


@pytest.fixture
async def e2e_database(admin_dsn: str) -> AsyncIterator[str]:
    dsn = await create_database(admin_dsn, "aup_e2e")
    await asyncio.to_thread(upgrade_to_head, dsn)
    yield dsn
    await drop_database(admin_dsn, dsn)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = start_simulator(GroundTruth(seed=5, users=16), SimulatorOptions())
    yield simulator
    simulator.server.should_exit = True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def services(e2e_database: str, sim: Simulator, tmp_path: Path) -> Iterator[Any]:
    started: list[Service] = []

    def start(**env: str) -> Service:
        port = free_port()
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "ANTHROPIC_"))},
            "DATABASE_URL": e2e_database,
            "CURSOR_API_KEY": sim.options.cursor_api_key,
            "CURSOR_API_BASE_URL": sim.url,
            "ANTHROPIC_ADMIN_API_KEY": sim.options.admin_api_key,
            "ANTHROPIC_API_BASE_URL": sim.url,
            "API_TOKEN": TOKEN,
            "SCHEDULER_ENABLED": "false",
            "WORKER_POLL_SECONDS": "0.2",
            "RUN_HEARTBEAT_TIMEOUT_SECONDS": "3",
            "SHUTDOWN_DEADLINE_SECONDS": "3",
            "UPSTREAM_RETRY_BASE_SECONDS": "0.05",
            "CURSOR_REQUESTS_PER_MINUTE": "600000",
            "CURSOR_EVENTS_REQUESTS_PER_MINUTE": "600000",
            "ANTHROPIC_REQUESTS_PER_MINUTE": "600000",
            "ANTHROPIC_COMPLIANCE_REQUESTS_PER_MINUTE": "600000",
            "ANTHROPIC_ANALYTICS_REQUESTS_PER_MINUTE": "600000",
            "LOG_FORMAT": "json",
            **env,
        }
        log_path = tmp_path / f"service-{port}.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                text=True,
            )
        service = Service(process, f"http://127.0.0.1:{port}", log_path)
        started.append(service)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, service.logs()
            try:
                if httpx.get(f"{service.url}/readyz", timeout=1).status_code == 200:
                    return service
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("service did not become ready")

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
        service.process.wait(timeout=10)


async def wait_for_run(
    client: httpx.AsyncClient, location: str, within: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        run = (await client.get(location)).json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.2)
