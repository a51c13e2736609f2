"""Keeping the dashboard's rollups equal to the facts: after each part of a run (its window's
months), and in every service process every few seconds (changes of teams, aliases or names,
and whatever a crash left marked). Bookkeeping: a failure is logged, never fails a run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date

import asyncpg

from app.logs import get_logger
from app.orchestration.sources.registry import REGISTRY
from app.repositories import rollups as rollups_repo
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


async def after_writes(pool: asyncpg.Pool, days: Iterable[date]) -> None:
    """A part wrote (or may have written) `days`: mark their months and rebuild them."""
    try:
        async with pool.acquire() as connection:
            await rollups_repo.mark_days(connection, days)
        await refresh_stale(pool)
    except DATABASE_ERRORS as exc:  # marked months are rebuilt by the next refresher
        log.warning("rollups not rebuilt", error=type(exc).__name__)


async def refresh_forever(pool: asyncpg.Pool, poll_seconds: float = POLL_SECONDS) -> None:
    while True:
        try:
            await refresh_stale(pool)
        except DATABASE_ERRORS as exc:
            log.warning("rollup refresh paused", error=type(exc).__name__)
        await asyncio.sleep(poll_seconds)


async def state(pool: asyncpg.Pool) -> RollupState:
    async with pool.acquire() as connection:
        return await rollups_repo.state(connection)
