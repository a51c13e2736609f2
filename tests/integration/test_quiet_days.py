"""Quiet days: an organisation with usage on 3 days of 90 (a new org, a small team's weekends).
An empty answer for a day that holds nothing is a fetched day; the shrink guard keeps only days
that hold rows, and says so once per run, naming them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import pytest

from app.orchestration.heal import plan_heal
from app.orchestration.run_request import utc_today
from app.simulator.app import SimulatorOptions
from app.simulator.model import GroundTruth
from app.vocabulary import CoverageState
from tests.integration.jobs import run_job
from tests.support.runs import ALL, run_plan, states
from tests.support.services import Simulator, start_simulator

pytestmark = pytest.mark.reliability

# Every endpoint whose answer is per day. (Cursor's daily usage has a row per member per day,
# active or not: a quiet day there is a day of zero rows, which the simulator already serves.)
DAILY = (
    "filtered-usage-events", "usage_report/claude_code", "usage_report/messages", "cost_report",
    "compliance/activities", "analytics/user_usage_report", "analytics/user_cost_report",
    "analytics/usage_report", "analytics/cost_report",
)  # fmt: skip
HORIZON = 90


@pytest.fixture
def quiet() -> Iterator[Simulator]:
    simulator = start_simulator(GroundTruth(seed=17, users=6), SimulatorOptions())
    yield simulator
    simulator.server.should_exit = True


async def test_a_90_day_heal_of_an_org_active_on_3_days_leaves_no_day_missing(
    db: asyncpg.Pool, quiet: Simulator
) -> None:
    today = utc_today()
    active = [today - timedelta(days=offset) for offset in (80, 45, 5)]
    for endpoint in DAILY:
        quiet.fault(endpoint, kind="quiet_days", value=[str(d) for d in active], times=None)
    settings = quiet.settings(backfill_horizon_days=HORIZON)
    plan = await plan_heal(db, settings)
    assert plan is not None and set(plan.sources) == set(ALL)
    _, outcome = await run_plan(db, quiet, plan, backfill_horizon_days=HORIZON)
    assert outcome.status == "succeeded", outcome.reason
    warnings = [w for progress in outcome.sources.values() for w in progress.warnings]
    assert len(warnings) <= 1, warnings  # was one per quiet day (87 in one run)
    start, end = today - timedelta(days=HORIZON), today - timedelta(days=1)
    known = await states(db, ALL, start, end)
    assert set(known.values()) <= {CoverageState.PROVISIONAL, CoverageState.FINAL}, {
        key: state for key, state in known.items() if state not in ("provisional", "final")
    }
    # The next heal re-reads provisional days only: nothing final is fetched again.
    again = await plan_heal(db, settings)
    assert again is not None
    for (_, source), (first, last) in again.windows.items():
        day = first
        while day <= last:
            assert known[(source, day)] is CoverageState.PROVISIONAL, (source, day)
            day += timedelta(days=1)
    # The active days were written (the quiet ones are fetched, with nothing in them).
    async with db.acquire() as connection:
        claude_days = {
            row["usage_date"]
            for row in await connection.fetch(
                "SELECT DISTINCT usage_date FROM fact_claude_daily_usage"
            )
        }
    assert claude_days and claude_days <= set(active)


async def test_an_empty_cost_report_is_kept_out_only_where_lines_are_held(
    db: asyncpg.Pool, quiet: Simulator
) -> None:
    """A day whose stored cost lines an empty report would erase keeps them (one warning);
    the same empty report for a day that never had lines is the day's answer."""
    today = utc_today()
    days = [today - timedelta(days=offset) for offset in (12, 11, 10)]
    billing = ["claude_usage", "claude_cost"]
    await run_job(db, quiet, days[0], days[-1], sources=billing)
    async with db.acquire() as connection:
        held = await connection.fetchval(
            "SELECT count(*) FROM claude_cost_lines WHERE usage_date = $1", days[1]
        )
    assert held > 0
    quiet.fault("cost_report", kind="empty_day", field=str(days[1]), times=None)
    _, outcome = await run_job(db, quiet, days[0], days[-1], sources=billing)
    assert outcome.status == "succeeded", outcome.reason
    cost = outcome.sources["claude_cost"]
    assert len(cost.warnings) == 1 and str(days[1]) in cost.warnings[0], cost.warnings
    async with db.acquire() as connection:
        still = await connection.fetchval(
            "SELECT count(*) FROM claude_cost_lines WHERE usage_date = $1", days[1]
        )
    assert still == held
