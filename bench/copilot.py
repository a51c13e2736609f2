"""GitHub Copilot at scale against the simulator: one run of `copilot_usage` and
`copilot_billing` over a window, then the same run again (which must change nothing).

    python -m bench.copilot [PEOPLE] [DAYS]     # default 2000 people, 3 days

No rate limit is applied (the figure is our own cost); the requests each surface took are
printed, so the time GitHub's limit would add is requests ÷ GITHUB_REQUESTS_PER_MINUTE.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date, timedelta

import asyncpg

from app.cli_demo import demo_overrides, start_simulator
from app.config import Settings, load_settings
from app.orchestration.run_request import PlannedRun
from app.repositories.database import create_pool
from app.vocabulary import RunStatus
from bench.common import execute_in_process, scratch_database

SOURCES = ("copilot_usage", "copilot_billing")
FIRST_DAY = date(2026, 8, 1)


async def _run(
    pool: asyncpg.Pool, settings: Settings, plan: PlannedRun
) -> tuple[float, dict[str, tuple[int, int, int]]]:
    elapsed, outcome = await execute_in_process(pool, settings, plan)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason
    return elapsed, {
        name: (p.rows_inserted, p.rows_updated, p.rows_unchanged)
        for name, p in outcome.sources.items()
    }


async def main(people: int = 2000, days: int = 3) -> None:
    url, server = start_simulator(people)
    try:
        async with scratch_database() as dsn:
            settings = load_settings(
                **{**demo_overrides(url), "database_url": dsn, "embedded_database": False,
                   "github_requests_per_minute": 1e6, "log_level": "ERROR"},
            )  # fmt: skip
            pool = await create_pool(settings, dsn)
            plan = PlannedRun(FIRST_DAY, FIRST_DAY + timedelta(days=days - 1), SOURCES)
            first, written = await _run(pool, settings, plan)
            requests = dict(sorted(server.config.app.state.request_counts.items()))
            again, rewritten = await _run(pool, settings, plan)
            await pool.close()
    finally:
        server.should_exit = True
    print(f"{people} people, {days} days: first run {first:.1f} s {written}")
    print(f"requests of the first run: {requests}")
    print(f"re-run {again:.1f} s (inserted, updated, unchanged): {rewritten}")


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    asyncio.run(main(*arguments))
