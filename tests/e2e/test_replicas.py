"""The service as real processes over real HTTP: replicas, schedule, SIGKILL and SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx

from tests.e2e.conftest import AUTH, EVERY_MINUTE, TOKEN, wait_for_run
from tests.integration.jobs import expected_totals, normalise, view_totals
from tests.support.services import BearerUnlessGiven, Simulator

# Two weeks at 400 ms a page: Claude Code alone walks 14 sequential day chains (≥ 5.6 s), so a
# signal sent once the run has fetched its first pages surely lands while it is still going.
LONG_START, LONG_END = date(2026, 7, 20), date(2026, 8, 2)
LONG_WINDOW = {"start_date": str(LONG_START), "end_date": str(LONG_END)}


async def test_twenty_posts_over_two_replicas_each_run_exactly_once(
    services: Any, sim: Simulator, e2e_database: str
) -> None:
    replicas = [services(), services()]
    locations = []
    async with httpx.AsyncClient(auth=BearerUnlessGiven(TOKEN), timeout=30) as client:
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
        runs = [await wait_for_run(client, location) for location in locations]
    assert all(run["status"] == "succeeded" for run in runs)
    # Each run's part was claimed by a worker process of one of the replicas.
    workers = {part["worker_id"].rpartition("/")[0] for run in runs for part in run["parts"]}
    assert workers <= {replica.worker_id for replica in replicas}
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
    every_minute = EVERY_MINUTE
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
    sim.fault("*", kind="latency", ms=400, times=None)  # long enough to be killed mid-run
    async with httpx.AsyncClient(auth=BearerUnlessGiven(TOKEN), timeout=30) as client:
        response = await client.post(f"{first.url}/runs", json=LONG_WINDOW, headers=AUTH)
        location = response.headers["location"]
        run: dict[str, Any] = {}
        for _ in range(100):
            run = (await client.get(f"{first.url}{location}")).json()
            if run["status"] == "running" and any(p["pages"] for p in run["progress"]):
                break
            await asyncio.sleep(0.1)
        # The replica running the Claude Code part (14 chains of slow pages: still going).
        (worker,) = [p["worker_id"] for p in run["parts"] if "claude_code" in p["sources"]]
        owner = first if worker.rpartition("/")[0] == first.worker_id else second
        survivor = second if owner is first else first
        owner.process.send_signal(signal.SIGKILL)
        owner.process.wait(timeout=10)
        crashed = await wait_for_run(client, f"{survivor.url}{location}", within=30)
        assert crashed["status"] == "crashed"
        assert "stopped heartbeating" in crashed["status_reason"]

        sim.app.state.faults.clear()
        again = await client.post(f"{survivor.url}/runs", json=LONG_WINDOW, headers=AUTH)
        assert again.status_code == 202, again.text
        rerun = await wait_for_run(client, f"{survivor.url}{again.headers['location']}")
    assert rerun["status"] == "succeeded"
    pool = await asyncpg.create_pool(e2e_database, min_size=1, max_size=2)
    try:
        got = normalise(await view_totals(pool))
    finally:
        await pool.close()
    expected = expected_totals(sim, LONG_START, LONG_END, enterprise_analytics=False)
    assert got == expected


async def test_sigterm_mid_run_cancels_within_the_deadline(
    services: Any, sim: Simulator, e2e_database: str
) -> None:
    service = services()
    sim.fault("*", kind="latency", ms=400, times=None)
    async with httpx.AsyncClient(auth=BearerUnlessGiven(TOKEN), timeout=30) as client:
        location = (
            await client.post(f"{service.url}/runs", json=LONG_WINDOW, headers=AUTH)
        ).headers["location"]
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
