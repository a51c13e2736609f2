"""Fault matrix, concurrency row: two replicas under 200 mixed requests per second for 30 s."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import AUTH, EVERY_MINUTE, TOKEN
from tests.support.services import BearerUnlessGiven

pytestmark = pytest.mark.reliability

RATE = 200  # requests per second
SECONDS = 30
KEYS = [f"load-key-{n}" for n in range(8)]
MAX_IN_FLIGHT = 64


def _body(rng: random.Random) -> dict[str, Any]:
    start = date(2026, 7, 1) + timedelta(days=rng.randint(0, 20))
    return {
        "start_date": str(start),
        "end_date": str(start + timedelta(days=rng.randint(0, 2))),
        "sources": ["cursor"],
    }


@dataclass
class Load:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0


async def _offer_load(replicas: list[Any], rng: random.Random) -> Load:
    """RATE requests a second for SECONDS, spread over both replicas, at most MAX_IN_FLIGHT."""
    keyed_bodies = {key: _body(rng) for key in KEYS}
    load = Load()
    run_ids: list[str] = []
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(clients: list[httpx.AsyncClient], n: int) -> None:
        client, base = clients[n % 2], replicas[n % 2].url
        kind = n % 10
        sent = time.monotonic()
        try:
            if kind < 3:  # POST with a reused idempotency key (same body per key)
                key = KEYS[n % len(KEYS)]
                response = await client.post(
                    f"{base}/runs", json=keyed_bodies[key], headers={**AUTH, "Idempotency-Key": key}
                )
            elif kind < 4:  # POST without a key: queued, or 409 on overlap
                response = await client.post(f"{base}/runs", json=_body(rng), headers=AUTH)
            elif kind < 7 and run_ids:
                response = await client.get(f"{base}/runs/{rng.choice(run_ids)}")
            elif kind < 9:
                response = await client.get(f"{base}/runs", params={"limit": 5})
            else:
                response = await client.get(f"{base}/livez")
        except httpx.HTTPError as exc:
            load.errors.append(type(exc).__name__)
            return
        finally:
            in_flight.release()
        load.latencies.append(time.monotonic() - sent)
        load.statuses[response.status_code] += 1
        if response.status_code == 202:
            run_ids.append(response.json()["id"])

    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    async with (
        httpx.AsyncClient(auth=BearerUnlessGiven(TOKEN), timeout=10, limits=limits) as a,
        httpx.AsyncClient(auth=BearerUnlessGiven(TOKEN), timeout=10, limits=limits) as b,
    ):
        tasks = []
        started = time.monotonic()
        for n in range(RATE * SECONDS):
            delay = started + n / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await in_flight.acquire()  # bounded: a slow service slows the generator, never piles up
            tasks.append(asyncio.create_task(one([a, b], n)))
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        load.elapsed = time.monotonic() - started
    return load


async def _recorded_runs(e2e_database: str) -> tuple[list[Any], list[Any], int]:
    """Runs per idempotency key, runs per scheduled slot, and overlapping runs that executed
    at the same time."""
    connection = await asyncpg.connect(e2e_database)
    try:
        keyed = await connection.fetch(
            "SELECT idempotency_key, count(*) AS runs FROM ingestion_runs"
            " WHERE idempotency_key IS NOT NULL GROUP BY 1"
        )
        slots = await connection.fetch(
            "SELECT scheduled_for, count(*) AS runs FROM ingestion_runs WHERE trigger = 'schedule' GROUP BY 1"
        )
        # Never two runs of overlapping windows and sources executing at the same time.
        concurrent = await connection.fetchval(
            """
            SELECT count(*) FROM ingestion_runs a JOIN ingestion_runs b ON a.id < b.id
             WHERE a.started_at IS NOT NULL AND b.started_at IS NOT NULL
               AND a.window_start <= b.window_end AND a.window_end >= b.window_start
               AND a.sources && b.sources
               AND tstzrange(a.started_at, coalesce(a.finished_at, now()))
                   && tstzrange(b.started_at, coalesce(b.finished_at, now()))
            """
        )
    finally:
        await connection.close()
    return keyed, slots, concurrent


async def test_two_replicas_under_load_no_5xx_no_duplicates(
    services: Any, e2e_database: str
) -> None:
    every_minute = {**EVERY_MINUTE, "DB_POOL_MAX_SIZE": "5"}
    replicas = [services(**every_minute), services(**every_minute)]
    load = await _offer_load(replicas, random.Random(42))
    statuses, errors, latencies, elapsed = load.statuses, load.errors, load.latencies, load.elapsed
    latencies.sort()
    print(
        f"load: {len(latencies)} requests in {elapsed:.1f}s, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, statuses {dict(statuses)}"
    )

    assert not errors, Counter(errors)
    assert sum(statuses.values()) == RATE * SECONDS
    assert not [s for s in statuses if s >= 500], statuses
    assert set(statuses) <= {200, 202, 409}, statuses
    assert elapsed < SECONDS * 2  # the services kept up with (roughly) the offered rate

    keyed, slots, concurrent = await _recorded_runs(e2e_database)
    assert {row["idempotency_key"] for row in keyed} == set(KEYS)
    assert all(row["runs"] == 1 for row in keyed)  # zero duplicate runs
    assert slots and all(row["runs"] == 1 for row in slots)  # one run per scheduled slot
    assert concurrent == 0
