"""The README's example queries run against real data and agree with the fact tables."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import asyncpg

from tests.conftest import Simulator
from tests.integration.jobs import run_job

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.DOTALL)


async def test_readme_queries_run_and_add_up(db: asyncpg.Pool, simulator: Simulator) -> None:
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded"
    queries = readme_queries()
    assert len(queries) == 6
    # The run's days are in August 2026: "the last 30 days" are asked as of 2026-08-04.
    queries[0] = queries[0].replace("current_date", "DATE '2026-08-04'")
    async with db.acquire() as connection:
        who, per_person, _team_mix, unattributed, final_claude, final_cursor = [
            await connection.fetch(q) for q in queries
        ]
        people = await connection.fetch(
            "SELECT user_email, array_agg(DISTINCT platform ORDER BY platform) AS platforms,"
            " min(attribution_confidence) AS least_sure FROM fact_claude_daily_usage"
            " WHERE user_email IS NOT NULL GROUP BY user_email"
        )
        attributed_cost = await connection.fetchval(
            "SELECT sum(billed_cost_usd) FROM claude_usage_by_user_day WHERE user_email IS NOT NULL"
        )
        claude_rows = await connection.fetchval("SELECT count(*) FROM claude_usage_by_user_day")
        cursor_rows = await connection.fetchval("SELECT count(*) FROM fact_cursor_daily_usage")
    # The run's days (August 2026) were fetched long after their horizons: all final.
    assert (len(final_claude), len(final_cursor)) == (claude_rows, cursor_rows)
    assert (
        per_person
        and sum((r["claude_billed_usd"] for r in per_person), Decimal(0)) == attributed_cost
    )
    assert all(Decimal(0) <= r["unattributed_share"] <= 1 for r in unattributed)
    # Who used Claude: every attributed person, their platforms, their weakest attribution.
    assert {(r["user_email"], tuple(r["platforms"]), r["least_sure"]) for r in who} == {
        (r["user_email"], tuple(r["platforms"]), r["least_sure"]) for r in people
    }
    assert sum((r["billed_usd"] for r in who), Decimal(0)) == attributed_cost
    assert any(len(r["platforms"]) > 1 for r in who)
