"""Heal: one run that fetches every (account, source, day) the ledger says is not final.

Within the last BACKFILL_HORIZON_DAYS complete days, each account's source re-reads its own
missing, failed and provisional days — its own sub-window of the run, so a source that is
complete is not read again because another one lags. A source and the sources it requires share
one window (cost is allocated to the usage of the same day). Each window takes the oldest days
first, at most HEAL_MAX_DAYS_PER_RUN of them, so a long backlog is worked off slot by slot.
The schedule heals at every slot; `POST /runs {"mode": "heal"}` does the same on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import asyncpg

from app.accounts import AccountSource
from app.config import Settings
from app.orchestration.accounts import configured_parts
from app.orchestration.run_request import PlannedRun, utc_today
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.repositories import coverage as coverage_repo


def horizon_window(settings: Settings, today: date) -> tuple[date, date]:
    """The days the schedule keeps complete: the last BACKFILL_HORIZON_DAYS complete days, none
    before EARLIEST_DAY."""
    start = max(settings.earliest_day, today - timedelta(days=settings.backfill_horizon_days))
    return start, today - timedelta(days=1)


def nothing_to_heal(settings: Settings) -> str:
    """Why a heal has nothing to do (the API's 422 and the CLI's line)."""
    return (
        f"nothing to heal: every day of the last {settings.backfill_horizon_days} days"
        " (BACKFILL_HORIZON_DAYS) is final"
    )


async def plan_heal(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    today: date | None = None,
    registry: SourceRegistry = REGISTRY,
    accounts: Sequence[str] | None = None,
) -> PlannedRun | None:
    """The heal run for `today` (UTC) of `accounts` (default: every configured one), or None
    when every day within the horizon is final."""
    start, end = horizon_window(settings, today or utc_today())
    parts = configured_parts(settings, accounts, registry=registry)
    async with pool.acquire() as connection:
        needed = await coverage_repo.days_to_fetch(connection, parts, start, end)
    days = {part: set(found) for part, found in needed.items() if found}
    for part in list(days):  # a source's requirements read the same days with it
        for required in registry.get(part.source).requires:
            other = AccountSource(part.account, required)
            shared = days[part] | days.get(other, set())
            days[part] = days[other] = shared
    windows = {
        part: _oldest_first(sorted(found), settings.heal_max_days_per_run)
        for part, found in days.items()
    }
    if not windows:
        return None
    healed: dict[str, tuple[str, ...]] = {}
    for part in parts:  # the accounts' order, each one's sources in registry order
        if part in windows:
            healed[part.account] = (*healed.get(part.account, ()), part.source)
    return PlannedRun(
        min(start for start, _ in windows.values()),
        max(end for _, end in windows.values()),
        tuple(name for name in registry.names() if any(p.source == name for p in windows)),
        windows,
        healed,
    )


def _oldest_first(days: list[date], limit: int) -> tuple[date, date]:
    first = days[0]
    last = min(days[-1], first + timedelta(days=limit - 1))
    return first, last
