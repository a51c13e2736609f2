"""Keeping the dashboard's rollups equal to the facts: after each part of a run (its window's
months, and the seats' use), and in every service process every few seconds (changes of teams,
aliases or names, whatever a crash left marked, the seats' window when the day turns).
Bookkeeping: a failure is logged, never fails a run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date, timedelta

import asyncpg

from app.config import Settings
from app.logs import get_logger
from app.orchestration.insights import seat_window
from app.orchestration.run_request import utc_today
from app.orchestration.sources.registry import REGISTRY
from app.repositories import rollups as rollups_repo
from app.repositories import seats as seats_repo
from app.repositories.database import DATABASE_ERRORS
from app.repositories.rollups import RollupState

log = get_logger(__name__)
POLL_SECONDS = 5.0


async def refresh_stale(pool: asyncpg.Pool) -> list[date]:
    """Rebuild marked months until none is left (or each left is another process's)."""
    rebuilt: list[date] = []
    async with pool.acquire() as connection:
        while (
            month := await rollups_repo.refresh_one(connection, REGISTRY.tool_sources())
        ) is not None:
            rebuilt.append(month)
    if rebuilt:
        log.info("rollups rebuilt", months=[month.isoformat() for month in rebuilt])
    return rebuilt


def kept_seat_window(settings: Settings) -> tuple[date, date]:
    """The seat report's default window (up to yesterday): the one whose use is kept."""
    return seat_window(settings, utc_today() - timedelta(days=1))


async def rebuild_seats(pool: asyncpg.Pool, settings: Settings) -> None:
    start, end = kept_seat_window(settings)
    async with pool.acquire() as connection:
        count = await seats_repo.rebuild_seat_use(connection, start, end, REGISTRY.tool_sources())
    log.info("seat use rebuilt", start=start.isoformat(), end=end.isoformat(), seats=count)


async def after_writes(pool: asyncpg.Pool, settings: Settings, days: Iterable[date]) -> None:
    """A part wrote (or may have written) `days`: mark their months and rebuild them, and the
    seats' use."""
    try:
        async with pool.acquire() as connection:
            await rollups_repo.mark_days(connection, days)
        await refresh_stale(pool)
        await rebuild_seats(pool, settings)
    except DATABASE_ERRORS as exc:  # marked months are rebuilt by the next refresher
        log.warning("rollups not rebuilt", error=type(exc).__name__)


async def refresh_forever(
    pool: asyncpg.Pool, settings: Settings, poll_seconds: float = POLL_SECONDS
) -> None:
    """Marked months, and the seats' use when the day turned (its window moved)."""
    while True:
        try:
            await refresh_stale(pool)
            async with pool.acquire() as connection:
                kept = await seats_repo.stored_window(connection)
            if kept != kept_seat_window(settings):
                await rebuild_seats(pool, settings)
        except DATABASE_ERRORS as exc:
            log.warning("rollup refresh paused", error=type(exc).__name__)
        await asyncio.sleep(poll_seconds)


async def state(pool: asyncpg.Pool) -> RollupState:
    async with pool.acquire() as connection:
        return await rollups_repo.state(connection)
