"""The dashboard's rollups equal the answers they stand for (spend by day, tool, platform,
account and team; each person's month; active people per week), after a run across a month's
end, after a team change, and after a re-run of days that changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.orchestration import insights
from app.orchestration.rollups import refresh_stale
from app.orchestration.run_request import RunRequest, plan_run
from app.orchestration.sources.registry import REGISTRY
from app.repositories import alerts as alerts_repo
from app.repositories import people as people_repo
from app.repositories import rollups as rollups_repo
from app.repositories.alerts import TeamMember
from app.repositories.people import Alias, Login
from app.simulator.model import GroundTruth
from app.simulator.plumbing import SimulatorOptions
from app.vocabulary import RunStatus
from tests.support.runs import execute_plan
from tests.support.services import EMPTY_EVERY_TABLE, Simulator, start_simulator

START, END = date(2026, 7, 27), date(2026, 8, 5)  # two months, weeks across their edge
KEYS = ("usage_date", "tool", "platform", "account", "team")
MONEY = ("billed_usd", "billed_provisional_usd", "estimated_usd", "estimated_provisional_usd",
         "consumption_usd", "consumption_provisional_usd")  # fmt: skip


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = start_simulator(GroundTruth(seed=11, users=9), SimulatorOptions(page_cap=50))
    yield simulator
    simulator.server.should_exit = True


async def _ingest(db: asyncpg.Pool, sim: Simulator, dsn: str, start: date, end: date) -> None:
    settings = sim.settings(database_url=dsn, **sim.copilot())
    _, outcome = await execute_plan(
        db, settings, plan_run(settings, RunRequest(start, end, REGISTRY.names()))
    )
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason


async def _assert_rollups_equal_answers(
    db: asyncpg.Pool, start: date = START, end: date = END, require_spend: bool = True
) -> None:
    async with db.acquire() as connection:
        assert await connection.fetchval("SELECT count(*) FROM rollup_stale_months") == 0
        spend_days = await connection.fetch("SELECT * FROM rollup_spend_day")
        months = await connection.fetch("SELECT * FROM rollup_person_month")
        weeks = await connection.fetch("SELECT * FROM rollup_active_week")
    keys = ["day", "tool", "platform", "account", "team"]
    answers = await insights.spend(db, start, end, keys)
    want = {tuple(r.group[k] for k in keys): (*(getattr(r, m) for m in MONEY), r.people)
            for r in answers}  # fmt: skip
    got = {(row["usage_date"].isoformat(), *(row[k] for k in KEYS[1:])):
           (*(row[m] for m in MONEY), row["people"]) for row in spend_days}  # fmt: skip
    assert got == want
    assert any(Decimal(0) < values[0] for values in got.values()) or not require_spend

    keys = ["month", "person", "tool", "platform", "account", "team"]
    answers = await insights.spend(db, start, end, keys)
    want = {tuple(r.group[k] for k in keys): tuple(getattr(r, m) for m in MONEY) for r in answers}
    got = {(row["month"].isoformat(), row["person"], row["tool"], row["platform"],
            row["account"], row["team"]): tuple(row[m] for m in MONEY) for row in months}  # fmt: skip
    assert got == want

    week = start + timedelta(days=(7 - start.weekday()) % 7)  # the window's first whole week
    adoption = await insights.adoption(db, week, week + timedelta(days=6), "week")
    assert {(row["tool"], row["platform"]): row["active_people"] for row in weeks
            if row["week"] == week} == {
        (row.tool, row.platform): row.active_people for row in adoption.rows
    }  # fmt: skip


async def test_rollups_equal_the_answers_across_changes(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> None:
    await _ingest(db, sim, database_dsn, START, END)
    await _assert_rollups_equal_answers(db)

    # A team change marks every month; the refresher rebuilds them to the new teams.
    people = sorted(person.email for person in sim.truth.people)
    members = [
        TeamMember(email, f"team-{n % 3}", date(1970, 1, 1)) for n, email in enumerate(people)
    ]
    members.append(TeamMember(people[0], "movers", date(2026, 8, 2)))
    async with db.acquire() as connection:
        await alerts_repo.replace_teams(connection, members)
        stale = await connection.fetchval(
            "SELECT array_agg(month ORDER BY month) FROM rollup_stale_months"
        )
    assert stale == [date(2026, 7, 1), date(2026, 8, 1)]
    assert await refresh_stale(db) == [date(2026, 8, 1), date(2026, 7, 1)]
    await _assert_rollups_equal_answers(db)
    async with db.acquire() as connection:
        teams = {row["team"] for row in await connection.fetch("SELECT team FROM rollup_spend_day")}
    assert {"movers", "team-0", "team-1"} <= teams

    # A second run over part of the window (days re-read, perhaps now final) keeps them equal.
    await _ingest(db, sim, database_dsn, date(2026, 8, 1), END)
    await _assert_rollups_equal_answers(db)


async def test_two_refreshers_never_rebuild_one_month_at_once(db: asyncpg.Pool) -> None:
    """A month another process is rebuilding is skipped, and rebuilt by whoever comes next if
    it is still marked."""
    async with db.acquire() as holder, db.acquire() as refresher:
        await rollups_repo.mark_days(holder, [date(2026, 8, 3)])
        async with holder.transaction():
            await holder.execute("SELECT month FROM rollup_stale_months FOR UPDATE")
            assert await rollups_repo.refresh_one(refresher, REGISTRY.tool_sources()) is None
            await rollups_repo.mark_days(refresher, [date(2026, 9, 9)])  # another month: free
        assert await rollups_repo.refresh_one(refresher, REGISTRY.tool_sources()) == date(
            2026, 9, 1
        )
        assert await rollups_repo.refresh_one(refresher, REGISTRY.tool_sources()) == date(
            2026, 8, 1
        )
        assert await rollups_repo.refresh_one(refresher, REGISTRY.tool_sources()) is None


# Any facts, teams (with moves), aliases and final/provisional days: rebuilt rollups equal the
# answers, and every dollar of the facts is in them exactly once.
DAYS = st.integers(min_value=0, max_value=45)  # from 2026-07-20: two or three months
PEOPLE = st.integers(min_value=0, max_value=4)
ROWS = st.lists(
    st.tuples(PEOPLE, DAYS, st.decimals(min_value=0, max_value=500, places=4)),
    max_size=40, unique_by=lambda row: (row[0], row[1]),
)  # fmt: skip
TEAMS = st.lists(st.tuples(PEOPLE, st.sampled_from(["red", "blue"]), DAYS), max_size=6,
                 unique_by=lambda row: (row[0], row[2]))  # fmt: skip
BASE = date(2026, 7, 20)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, teams=TEAMS, provisional=st.sets(DAYS, max_size=10), alias=st.booleans())
async def test_rollups_equal_any_facts(
    db: asyncpg.Pool,
    rows: list[tuple[int, int, Decimal]],
    teams: list[tuple[int, str, int]],
    provisional: set[int],
    alias: bool,
) -> None:
    async with db.acquire() as connection:
        await connection.execute(EMPTY_EVERY_TABLE)
        await connection.executemany(
            "INSERT INTO fact_cursor_daily_usage (account, usage_date, email, attribution_method,"
            " attribution_confidence, on_demand_cost_usd) VALUES ('default', $1, $2, 'x', 1, $3)",
            [(BASE + timedelta(days=d), f"p{p}@acme.dev", amount) for p, d, amount in rows],
        )
        await connection.executemany(
            "INSERT INTO coverage_days (account, source, usage_date, last_fetched_at, final_after)"
            " VALUES ('default', 'cursor', $1, now(), now() + $2 * interval '1 day')",
            [(BASE + timedelta(days=d), 1 if d in provisional else -1) for d in range(46)],
        )
        await alerts_repo.replace_teams(
            connection,
            [TeamMember(f"p{p}@acme.dev", team, BASE + timedelta(days=d)) for p, team, d in teams],
        )
        if alias:  # p1's address belongs to p0: their rows are one person's
            await people_repo.replace_aliases(connection, [Alias("p1@acme.dev", "p0@acme.dev")])
        await rollups_repo.mark_days(connection, [BASE + timedelta(days=d) for d in range(46)])
    await refresh_stale(db)
    await _assert_rollups_equal_answers(db, BASE, BASE + timedelta(days=45), require_spend=False)
    async with db.acquire() as connection:
        total = await connection.fetchval(
            "SELECT coalesce(sum(billed_usd), 0) FROM rollup_spend_day"
        )
    assert total == sum((amount for _, _, amount in rows), Decimal(0))


async def test_a_run_rebuilds_its_days_and_a_team_change_every_day(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> None:
    """A part's days are rebuilt, not its whole month (at 10,000 people a month costs
    seconds); a change of who is in which team rebuilds every month whole."""
    await _ingest(db, sim, database_dsn, date(2026, 8, 1), date(2026, 8, 6))
    await _assert_rollups_equal_answers(db, date(2026, 8, 1), date(2026, 8, 6))
    sentinel = "INSERT INTO rollup_spend_day VALUES ('2026-08-20', 'x', 'x', 'x', 'x', 1, 0, 0, 0, 0, 0, 1)"
    async with db.acquire() as connection:
        await connection.execute(sentinel)  # a day no run marks: left as it is
    await _ingest(db, sim, database_dsn, date(2026, 8, 5), date(2026, 8, 6))
    async with db.acquire() as connection:
        assert (
            await connection.fetchval("SELECT count(*) FROM rollup_spend_day WHERE tool = 'x'") == 1
        )
        await alerts_repo.replace_teams(connection, [TeamMember("a@acme.dev", "t", BASE)])
        assert await connection.fetchval("SELECT whole FROM rollup_stale_months") is True
    await refresh_stale(db)
    async with db.acquire() as connection:
        assert (
            await connection.fetchval("SELECT count(*) FROM rollup_spend_day WHERE tool = 'x'") == 0
        )
        assert await connection.fetchval("SELECT count(*) FROM rollup_stale_days") == 0
        # Who a GitHub login is shapes the next run's rows, not the rollups: nothing marked.
        await people_repo.replace_logins(connection, [Login("github", "octo", "a@acme.dev")])
        assert await connection.fetchval("SELECT count(*) FROM rollup_stale_months") == 0
    await _assert_rollups_equal_answers(db, date(2026, 8, 1), date(2026, 8, 6))
