"""The month-end forecast, backtested on the simulator's history.

    python -m bench.forecast [PEOPLE]      # default 20 people; ingests 2026-06-03 … 2026-08-31

Every tool is ingested over three months; July and August are then projected from their first
7, 14 and 21 days (and the four weeks before each cut) and compared with what they turned out
to be: the organisation's billed spend and each tool's. Printed: the mean absolute error of the
projection, its worst case, and how often the 90 % range held the outcome.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from decimal import Decimal

from app.cli_demo import demo_overrides, start_simulator
from app.config import load_settings
from app.orchestration import insights
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.registry import REGISTRY
from app.processing.forecast import backtest
from app.repositories.database import create_pool
from bench.common import execute_in_process, scratch_database

FIRST, LAST = date(2026, 6, 3), date(2026, 8, 31)
MONTHS = (date(2026, 7, 1), date(2026, 8, 1))
# The upstreams' rate limits are not what this measures.
UNLIMITED = dict.fromkeys(
    ("github_requests_per_minute", "cursor_requests_per_minute",
     "cursor_events_requests_per_minute", "anthropic_requests_per_minute",
     "anthropic_analytics_requests_per_minute", "anthropic_compliance_requests_per_minute"),
    1e6,
)  # fmt: skip
SCOPES = (("organization", ""), ("tool", "cursor"), ("tool", "claude"), ("tool", "copilot"))


async def main(people: int = 20) -> None:
    url, server = start_simulator(people)
    try:
        async with scratch_database() as dsn:
            overrides = {**demo_overrides(url), **UNLIMITED, "database_url": dsn,
                         "embedded_database": False, "log_level": "ERROR"}  # fmt: skip
            settings = load_settings(**overrides)
            pool = await create_pool(settings, dsn)
            plan = PlannedRun(FIRST, LAST, REGISTRY.names())
            seconds, outcome = await execute_in_process(pool, settings, plan)
            print(f"ingested {FIRST} … {LAST} ({people} people): {outcome.status},"
                  f" {seconds:.0f} s")  # fmt: skip
            for scope, value in SCOPES:
                points = backtest(await _daily(pool, scope, value), MONTHS)
                errors = [point.error for point in points]
                held = sum(point.within_range for point in points)
                print(f"{scope} {value or '(all)'}: mean error {_pct(sum(errors) / len(errors))},"
                      f" worst {_pct(max(errors))}, range held {held}/{len(points)}")  # fmt: skip
            await pool.close()
    finally:
        server.should_exit = True


async def _daily(pool: object, scope: str, value: str) -> dict[date, Decimal]:
    rows = await insights.spend(
        pool,
        FIRST,
        LAST,
        ["day"],
        insights.scope_filter(scope, value),  # type: ignore[arg-type]
    )
    return {date.fromisoformat(row.group["day"]): row.billed_usd for row in rows}


def _pct(value: Decimal) -> str:
    return f"{value * 100:.1f} %"


if __name__ == "__main__":
    asyncio.run(main(*(int(value) for value in sys.argv[1:2])))
