"""The service as real processes over real HTTP: replicas, schedule, SIGKILL and SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.repositories.migrations import upgrade_to_head
from app.simulator.app import SimulatorOptions
from app.simulator.model import GroundTruth
from tests.conftest import Simulator, create_database, drop_database, start_simulator
from tests.integration.jobs import expected_totals, normalise, view_totals

TOKEN = "e2e-token-abcdefghijklmnop"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WINDOW = {"start_date": "2026-08-01", "end_date": "2026-08-03"}


@dataclass
class Service:
    process: subprocess.Popen[str]
    url: str

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def services(e2e_database: str, sim: Simulator) -> Iterator[Any]:
    started: list[Service] = []

    def start(**env: str) -> Service:
        port = _free_port()
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
            "CURSOR_REQUESTS_PER_MINUTE": "6000",
            "ANTHROPIC_REQUESTS_PER_MINUTE": "6000",
            "LOG_FORMAT": "json",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        service = Service(process, f"http://127.0.0.1:{port}")
        started.append(service)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
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


async def _wait(client: httpx.AsyncClient, location: str, within: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        run = (await client.get(location)).json()
        if run["status"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.2)


async def test_twenty_posts_over_two_replicas_each_run_exactly_once(
    services: Any, sim: Simulator, e2e_database: str
) -> None:
    replicas = [services(), services()]
    locations = []
    async with httpx.AsyncClient(timeout=30) as client:
        for index in range(20):
            day = str(date(2026, 7, 1) + timedelta(days=index))
            replica = replicas[index % 2]
            response = await client.post(
                f"{replica.url}/runs",
                json={"start_date": day, "end_date": day, "sources": ["cursor"]},
                headers=AUTH,
            )
            assert response.status_code == 202, response.text
            locations.append(f"{replica.url}{response.headers['location']}")
        runs = [await _wait(client, location) for location in locations]
    assert all(run["status"] == "succeeded" for run in runs)
    assert {run["worker_id"] for run in runs} <= {replica.worker_id for replica in replicas}
    # Each run is one Cursor request (one page): exactly 20 requests means exactly once each.
    assert sim.app.state.request_counts["daily-usage-data"] == 20
    connection = await asyncpg.connect(e2e_database)
    try:
        assert await connection.fetchval(
            "SELECT count(*) FROM fact_cursor_daily_usage"
        ) == 20 * len(sim.truth.cursor_members())
    finally:
        await connection.close()


async def test_a_scheduled_slot_fired_on_two_replicas_creates_one_run(
    services: Any, e2e_database: str
) -> None:
    every_minute = {"SCHEDULER_ENABLED": "true", "SCHEDULE_CRON": "* * * * *"}
    services(**every_minute)
    services(**every_minute)
    await asyncio.sleep(1.0)
    connection = await asyncpg.connect(e2e_database)
    try:
        slots = await connection.fetch(
            "SELECT scheduled_for, count(*) AS runs FROM ingestion_runs WHERE trigger = 'schedule' GROUP BY 1"
        )
    finally:
        await connection.close()
    assert slots and all(row["runs"] == 1 for row in slots)


async def test_sigkill_mid_run_is_marked_crashed_and_a_rerun_is_exact(
    services: Any, sim: Simulator, e2e_database: str
) -> None:
    first, second = services(), services()
    sim.fault("*", kind="latency", ms=300, times=None)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{first.url}/runs", json=WINDOW, headers=AUTH)
        location = response.headers["location"]
        run: dict[str, Any] = {}
        for _ in range(100):
            run = (await client.get(f"{first.url}{location}")).json()
            if run["status"] == "running" and any(p["pages"] for p in run["progress"]):
                break
            await asyncio.sleep(0.1)
        owner = first if run["worker_id"] == first.worker_id else second
        survivor = second if owner is first else first
        owner.process.send_signal(signal.SIGKILL)
        owner.process.wait(timeout=10)
        crashed = await _wait(client, f"{survivor.url}{location}", within=30)
        assert crashed["status"] == "crashed"
        assert "stopped heartbeating" in crashed["status_reason"]

        sim.app.state.faults.clear()
        again = await client.post(f"{survivor.url}/runs", json=WINDOW, headers=AUTH)
        assert again.status_code == 202, again.text
        rerun = await _wait(client, f"{survivor.url}{again.headers['location']}")
    assert rerun["status"] == "succeeded"
    pool = await asyncpg.create_pool(e2e_database, min_size=1, max_size=2)
    try:
        got = normalise(await view_totals(pool))
    finally:
        await pool.close()
    expected = {key: value for key, value in expected_totals(sim).items() if key[1] != "claude_ai"}
    assert got == expected


async def test_sigterm_mid_run_cancels_within_the_deadline(
    services: Any, sim: Simulator, e2e_database: str
) -> None:
    service = services()
    sim.fault("*", kind="latency", ms=300, times=None)
    async with httpx.AsyncClient(timeout=30) as client:
        location = (await client.post(f"{service.url}/runs", json=WINDOW, headers=AUTH)).headers[
            "location"
        ]
        for _ in range(100):
            run = (await client.get(f"{service.url}{location}")).json()
            if run["status"] == "running" and any(p["pages"] for p in run["progress"]):
                break
            await asyncio.sleep(0.1)
    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    service.process.wait(timeout=30)
    assert time.monotonic() - started < 3 + 8  # the deadline plus start-up/teardown slack
    connection = await asyncpg.connect(e2e_database)
    try:
        run_row = await connection.fetchrow("SELECT status, status_reason FROM ingestion_runs")
        days = await connection.fetch(
            "SELECT usage_date, count(*) FILTER (WHERE model IS NULL) AS records FROM fact_claude_daily_usage"
            " WHERE source = 'claude_code_analytics' GROUP BY usage_date"
        )
    finally:
        await connection.close()
    assert run_row is not None and run_row["status"] == "cancelled"
    assert run_row["status_reason"] == "service shutting down"
    for row in days:  # whatever was written is whole days
        assert row["records"] == len(sim.truth.claude_code_records(row["usage_date"]))
