"""The documented example queries (docs/data-model.md, docs/runs-and-coverage.md, and the one in
the README) run against real data and agree with the simulator's truth."""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import asyncpg

from tests.integration.jobs import END, START, expected_totals, run_job
from tests.support.services import Simulator

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = (ROOT / "docs" / "data-model.md", ROOT / "docs" / "runs-and-coverage.md")
# The run's days are in August 2026: "now" in the queries is 2026-08-04.
AS_OF = "DATE '2026-08-04'"


def sql_blocks(path: Path) -> list[str]:
    return re.findall(r"```sql\n(.*?)```", path.read_text(), flags=re.DOTALL)


def documented_queries() -> list[str]:
    queries = [query for path in DOCUMENTED for query in sql_blocks(path)]
    return [query.replace("current_date", AS_OF) for query in queries]


def test_the_readme_query_is_one_of_the_tested_ones() -> None:
    (readme_query,) = sql_blocks(ROOT / "README.md")
    assert readme_query in [query for path in DOCUMENTED for query in sql_blocks(path)]


def _truth(simulator: Simulator) -> tuple[dict[str, Decimal], Decimal]:
    """Per person: Cursor cost billed beyond the plan (people only), and the Claude billed
    total."""
    truth = simulator.truth
    cursor: dict[str, Decimal] = defaultdict(Decimal)
    for (_, identity), values in truth.expected_cursor_spend(START, END).items():
        if not identity.startswith("service-account:"):
            cursor[identity] += values["on_demand_cost_usd"]  # type: ignore[operator]
    claude_total = sum(
        (values["billed_cost_usd"] for values in expected_totals(simulator).values()),
        Decimal(0),
    )
    return dict(cursor), claude_total


async def test_documented_queries_run_and_add_up(db: asyncpg.Pool, simulator: Simulator) -> None:
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded"
    queries = documented_queries()
    assert len(queries) == 9
    async with db.acquire() as connection:
        who, team_mix, unattributed, per_person, top10, per_line, by_team = [
            await connection.fetch(q) for q in queries[:7]
        ]
        final_claude, final_cursor = [await connection.fetch(q) for q in queries[7:]]
        billed = await connection.fetchval("SELECT sum(billed_cost_usd) FROM ai_usage_by_user_day")
        assert team_mix is not None
        people = await connection.fetch(
            "SELECT user_email, array_agg(DISTINCT platform ORDER BY platform) AS platforms,"
            " min(attribution_confidence) AS least_sure FROM fact_claude_daily_usage"
            " WHERE user_email IS NOT NULL GROUP BY user_email"
        )
        attributed_claude = await connection.fetchval(
            "SELECT sum(billed_cost_usd) FROM claude_usage_by_user_day WHERE user_email IS NOT NULL"
        )
        claude_rows = await connection.fetchval("SELECT count(*) FROM claude_usage_by_user_day")
        cursor_rows = await connection.fetchval("SELECT count(*) FROM fact_cursor_daily_usage")
    # The run's days (August 2026) were fetched long after their horizons: all final.
    assert (len(final_claude), len(final_cursor)) == (claude_rows, cursor_rows)
    assert all(Decimal(0) <= r["unattributed_share"] <= 1 for r in unattributed)

    # Who used Claude: every attributed person, their platforms, their weakest attribution.
    assert {(r["user_email"], tuple(r["platforms"]), r["least_sure"]) for r in who} == {
        (r["user_email"], tuple(r["platforms"]), r["least_sure"]) for r in people
    }
    assert sum((r["billed_usd"] for r in who), Decimal(0)) == attributed_claude
    assert any(len(r["platforms"]) > 1 for r in who)

    # Cost per person per month across tools: Cursor to the last digit of the events' truth,
    # Claude adding up to the view's attributed total; no person twice in a month.
    cursor_truth, claude_truth = _truth(simulator)
    assert len({(r["user_email"], r["month"]) for r in per_person}) == len(per_person)
    got_cursor = {r["user_email"]: r["cursor_usd"] for r in per_person if r["cursor_usd"]}
    assert got_cursor == {email: cost for email, cost in cursor_truth.items() if cost}
    assert sum((r["claude_usd"] for r in per_person), Decimal(0)) == attributed_claude
    assert attributed_claude <= claude_truth
    for row in per_person:
        assert row["billed_usd"] == row["cursor_usd"] + row["claude_usd"] + row["copilot_usd"]

    # The top 10 of this month: the ten largest of the per-person totals, in order.
    totals = sorted((r["billed_usd"] for r in per_person), reverse=True)[:10]
    assert [r["billed_usd"] for r in top10] == totals
    assert {"cursor", "claude"} <= {tool for r in top10 for tool in r["tools"]}

    # Cost per accepted line: each tool's billed total over its accepted lines.
    by_tool = {r["tool"]: r for r in per_line}
    assert set(by_tool) == {"cursor", "claude"}
    assert by_tool["cursor"]["billed_usd"] == sum(
        (values["on_demand_cost_usd"] for values in
         simulator.truth.expected_cursor_spend(START, END).values()),
        Decimal(0),
    )  # fmt: skip
    assert by_tool["cursor"]["accepted_lines"] == sum(
        row["acceptedLinesAdded"]  # type: ignore[misc]
        for row in simulator.truth.expected_cursor_rows(START, END).values()
    )
    assert by_tool["claude"]["billed_usd"] == claude_truth

    # Spend per team and month from the rollups: every billed dollar of the view, once.
    assert sum((r["billed_usd"] for r in by_team), Decimal(0)) == billed > 0
    assert {r["team"] for r in by_team} == {"unassigned"}  # no team listed
