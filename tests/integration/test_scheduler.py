"""The daily schedule: slot arithmetic, one run per slot across replicas, catch-up once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import asyncpg

from app.orchestration.scheduler import DailySchedule, cron_trigger, enqueue_slot, latest_slot
from app.orchestration.sources.registry import REGISTRY
from tests.support.services import Simulator


def test_latest_slot_in_the_schedule_time_zone(simulator: Simulator) -> None:
    settings = simulator.settings(schedule_cron="30 2 * * *", schedule_timezone="Europe/Berlin")
    trigger = cron_trigger(settings)
    slot = latest_slot(trigger, datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    assert slot is not None and slot.astimezone(UTC) == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    before = latest_slot(trigger, datetime(2026, 11, 27, 1, 0, tzinfo=UTC))
    assert before is not None and before.astimezone(UTC) == datetime(
        2026, 11, 26, 1, 30, tzinfo=UTC
    )


async def test_a_slot_fired_by_many_replicas_makes_one_run(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    # On an empty ledger a slot heals every day of BACKFILL_HORIZON_DAYS: here, three.
    settings = simulator.settings(
        database_url=database_dsn, lookback_days=3, backfill_horizon_days=3
    )
    slot = datetime(2026, 8, 4, 2, 30, tzinfo=UTC)
    created = await asyncio.gather(*(enqueue_slot(db, settings, slot) for _ in range(10)))
    assert sum(run_id is not None for run_id in created) == 1
    async with db.acquire() as connection:
        run = await connection.fetchrow("SELECT * FROM ingestion_runs")
        count = await connection.fetchval("SELECT count(*) FROM ingestion_runs")
    assert count == 1
    assert (run["trigger"], run["window_start"], run["window_end"]) == (
        "schedule",
        date(2026, 8, 1),
        date(2026, 8, 3),
    )
    assert run["sources"] == REGISTRY.configured(settings)


async def test_start_up_catches_up_the_missed_slot_once(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    settings = simulator.settings(database_url=database_dsn)
    woken: list[int] = []
    first = DailySchedule(db, settings, lambda: woken.append(1))
    second = DailySchedule(db, settings, lambda: woken.append(2))
    await first.catch_up()
    await second.catch_up()
    await first.catch_up()
    async with db.acquire() as connection:
        runs = await connection.fetch(
            "SELECT scheduled_for FROM ingestion_runs WHERE trigger = 'schedule'"
        )
    assert len(runs) == 1 and woken == [1]
    assert runs[0]["scheduled_for"] == latest_slot(first.trigger, datetime.now(UTC))
