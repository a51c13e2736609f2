"""The coverage ledger and the schedule that heals: every (source, day) missing, failed,
provisional or final; a slot re-reads what is not final; the API, the CLI and the metrics show
the ledger as it is."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime, timedelta

import asyncpg
from typer.testing import CliRunner

from app.accounts import AccountSource
from app.cli import cli
from app.orchestration.heal import plan_heal
from app.orchestration.run_request import utc_today
from app.orchestration.scheduler import enqueue_slot
from app.repositories import runs as runs_repo
from app.vocabulary import CoverageState
from tests.integration.conftest import AUTH, serve, wait_for
from tests.integration.jobs import expected_totals, normalise, run_job, view_totals
from tests.support.metrics import scrape, value
from tests.support.runs import ALL, run_plan, states
from tests.support.services import Simulator

CURSOR_ONLY = {
    "anthropic_admin_api_key": None,
    "claude_ai_activity_enabled": False,
    "anthropic_compliance_api_key": None,
    "anthropic_analytics_api_key": None,
}


async def test_a_service_stopped_for_seven_days_heals_exactly_those_days_in_one_run(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    today = date(2026, 8, 20)  # the service comes back up; it last ran for 2026-08-12
    settings = simulator.settings(backfill_horizon_days=19)  # the ledger reaches 2026-08-01
    first, _ = await run_job(db, simulator, date(2026, 8, 1), date(2026, 8, 12))
    assert set((await states(db, ALL, date(2026, 8, 1), date(2026, 8, 12))).values()) == {
        CoverageState.FINAL  # fetched today, long after those days' horizons
    }

    plan = await plan_heal(db, settings, today=today)
    assert plan is not None
    gap = (date(2026, 8, 13), date(2026, 8, 19))
    assert (plan.start, plan.end, plan.sources) == (*gap, ALL)
    assert dict(plan.windows) == {AccountSource("default", name): gap for name in ALL}

    heal, outcome = await run_plan(db, simulator, plan, backfill_horizon_days=19)
    assert outcome.status == "succeeded", outcome.reason
    assert {
        progress.days_total for name, progress in outcome.sources.items() if name != "claude_ai"
    } == {7}
    assert set((await states(db, ALL, date(2026, 8, 1), date(2026, 8, 19))).values()) == {
        CoverageState.FINAL
    }
    async with db.acquire() as connection:
        refetched = await connection.fetchval(
            "SELECT count(*) FROM coverage_days WHERE usage_date < '2026-08-13'"
            " AND last_run_id <> $1",
            first,
        )
        healed = await connection.fetchval(
            "SELECT count(*) FROM coverage_days WHERE last_run_id = $1", heal
        )
        unmarked = await connection.fetchval(
            "SELECT count(*) FROM coverage_days WHERE source = 'claude_ai'"
            " AND data_refreshed_at IS NULL"
        )
    assert refetched == 0 and healed == 7 * len(ALL)  # exactly the missing days
    assert unmarked == 0  # Enterprise Analytics' data_refreshed_at, kept per day
    assert normalise(await view_totals(db)) == expected_totals(
        simulator, date(2026, 8, 1), date(2026, 8, 19)
    )
    assert await plan_heal(db, settings, today=today) is None  # nothing left to heal


async def test_a_source_failing_two_slots_is_retried_until_its_days_are_final(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    today = date(2026, 8, 6)
    settings = simulator.settings(backfill_horizon_days=3, **CURSOR_ONLY)
    window = (date(2026, 8, 3), date(2026, 8, 5))
    simulator.fault("daily-usage-data", kind="status", status=500, times=None)
    for slot in range(2):
        plan = await plan_heal(db, settings, today=today)
        # The spend source succeeds in the first slot: the second heals daily usage alone.
        sources = ("cursor", "cursor_spend") if slot == 0 else ("cursor",)
        assert plan is not None and (plan.start, plan.end, plan.sources) == (*window, sources)
        _, outcome = await run_plan(db, simulator, plan, upstream_max_attempts=1, **CURSOR_ONLY)
        assert outcome.sources["cursor"].status == "failed"
        assert set((await states(db, ("cursor",), *window)).values()) == {CoverageState.FAILED}
    async with db.acquire() as connection:
        failures = await connection.fetchval(
            "SELECT min(failures) FROM coverage_days WHERE source = 'cursor'"
        )
    assert failures == 2

    simulator.app.state.faults.clear()
    plan = await plan_heal(db, settings, today=today)
    assert plan is not None
    _, outcome = await run_plan(db, simulator, plan, **CURSOR_ONLY)
    assert outcome.status == "succeeded"
    assert set((await states(db, ("cursor",), *window)).values()) == {CoverageState.FINAL}


async def test_a_day_is_final_only_after_its_horizon_and_a_fetch_after_it(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    yesterday = utc_today() - timedelta(days=1)
    old = date(2026, 8, 3)
    await run_job(db, simulator, yesterday, yesterday, sources=["cursor"])
    await run_job(db, simulator, old, old, sources=["cursor"])
    got = await states(db, ("cursor",), old, yesterday)
    assert got[("cursor", yesterday)] is CoverageState.PROVISIONAL  # its horizon is ahead
    assert got[("cursor", old)] is CoverageState.FINAL

    # The old day's last fetch happened before its horizon passed: provisional, re-read.
    async with db.acquire() as connection:
        await connection.execute(
            "UPDATE coverage_days SET last_fetched_at = final_after - interval '1 hour'"
            " WHERE usage_date = $1",
            old,
        )
    assert (await states(db, ("cursor",), old, old))[("cursor", old)] is CoverageState.PROVISIONAL
    settings = simulator.settings(backfill_horizon_days=(utc_today() - old).days, **CURSOR_ONLY)
    plan = await plan_heal(db, settings)
    assert plan is not None and plan.window_of(AccountSource("default", "cursor"))[0] == old
    await run_plan(db, simulator, plan, **CURSOR_ONLY)
    got = await states(db, ("cursor",), old, yesterday)
    assert got[("cursor", old)] is CoverageState.FINAL
    assert got[("cursor", yesterday)] is CoverageState.PROVISIONAL  # fetched again, still early


async def test_the_api_the_cli_and_the_metrics_agree_with_the_ledger(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    yesterday = utc_today() - timedelta(days=1)
    settings = simulator.settings(
        database_url=database_dsn, backfill_horizon_days=10, worker_poll_seconds=0.2
    )
    await run_job(db, simulator, yesterday - timedelta(days=5), yesterday, sources=["cursor"])
    simulator.fault("usage_report/claude_code", kind="status", status=500, times=None)
    await run_job(
        db, simulator, yesterday - timedelta(days=2), yesterday,
        sources=["claude_code"], upstream_max_attempts=1,
    )  # fmt: skip
    start = yesterday - timedelta(days=9)
    ledger = await states(db, ALL, start, yesterday)
    expected = {
        source: {state: sum(1 for (s, _), v in ledger.items() if s == source and v is state)
                 for state in CoverageState}
        for source in ALL
    }  # fmt: skip
    assert expected["cursor"][CoverageState.FINAL] > 0
    assert expected["cursor"][CoverageState.PROVISIONAL] > 0
    assert expected["claude_code"][CoverageState.FAILED] == 3

    async with serve(settings) as api:
        body = (await api.get("/coverage", params={"start": str(start)})).json()
        families = await scrape(api)
    assert {
        (day["source"], date.fromisoformat(day["day"])): CoverageState(day["state"])
        for day in body["days"]
    } == ledger
    assert body["counts"] == {
        "default": {s: {k.value: v for k, v in c.items()} for s, c in expected.items()}
    }
    for source, counts in expected.items():
        for state, days in counts.items():
            gauge = value(
                families,
                "ingestion_coverage_days",
                "ingestion_coverage_days",
                account="default",
                source=source,
                state=state.value,
            )
            assert gauge == days, (source, state)

    env = {
        "DATABASE_URL": database_dsn,
        "CURSOR_API_KEY": "k",
        "ANTHROPIC_ADMIN_API_KEY": "k",
        "CLAUDE_AI_ACTIVITY_ENABLED": "true",
        "COLUMNS": "250",
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["coverage", "--days", "10"], env=env)
    assert result.exit_code == 0, result.output
    for source in ALL:  # plain (not a terminal): a calendar row per source, its counts last
        (line,) = [
            line for line in result.output.splitlines() if re.match(rf"{source}\s+[·✓~✗]", line)
        ]
        numbers = [int(n) for n in re.findall(r"\b\d+\b", line)][-len(CoverageState) :]
        assert numbers == [expected[source][state] for state in CoverageState], line
    asked = ["coverage", "--days", "10", "--output", "json"]
    as_json = await asyncio.to_thread(CliRunner().invoke, cli, asked, env=env)
    assert json.loads(as_json.stdout)["counts"] == body["counts"]  # the API's answer, as it


async def test_two_replicas_heal_once(db: asyncpg.Pool, simulator: Simulator) -> None:
    settings = simulator.settings(backfill_horizon_days=4)
    slot = datetime.combine(utc_today(), datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
    created = await asyncio.gather(*(enqueue_slot(db, settings, slot) for _ in range(4)))
    assert sum(run_id is not None for run_id in created) == 1
    (run_id,) = [run_id for run_id in created if run_id is not None]
    async with db.acquire() as connection:
        run = await runs_repo.get_run(connection, run_id)
    yesterday = utc_today() - timedelta(days=1)
    assert run is not None and run.source_windows is not None
    assert set(run.source_windows["default"].values()) == {
        (yesterday - timedelta(days=3), yesterday)
    }


async def test_post_runs_heal_queues_what_the_schedule_would(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    settings = simulator.settings(
        database_url=database_dsn, backfill_horizon_days=2, worker_poll_seconds=0.2, **CURSOR_ONLY
    )
    async with serve(settings) as api:
        refused = await api.post(
            "/runs", json={"mode": "heal", "sources": ["cursor"]}, headers=AUTH
        )
        assert refused.status_code == 422
        response = await api.post("/runs", json={"mode": "heal"}, headers=AUTH)
        assert response.status_code == 202, response.text
        run = await wait_for(api, response.headers["Location"])
    yesterday = utc_today() - timedelta(days=1)
    assert run["status"] == "succeeded"
    both_days = [str(yesterday - timedelta(days=1)), str(yesterday)]
    assert run["source_windows"] == {"default": {"cursor": both_days, "cursor_spend": both_days}}
    got = await states(db, ("cursor",), yesterday - timedelta(days=1), yesterday)
    assert set(got.values()) == {CoverageState.PROVISIONAL}  # fetched, horizons still ahead


async def test_the_analyst_view_says_which_days_are_final(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    yesterday = utc_today() - timedelta(days=1)
    old = date(2026, 8, 3)
    await run_job(db, simulator, old, old)
    await run_job(db, simulator, yesterday, yesterday)
    async with db.acquire() as connection:
        rows = await connection.fetch(
            "SELECT usage_date, bool_and(is_final) AS all_final, bool_or(is_final) AS any_final"
            " FROM claude_usage_by_user_day GROUP BY usage_date"
        )
        # README: "Only final days" — the query analysts alert on.
        final_cursor_days = await connection.fetch(
            "SELECT DISTINCT f.usage_date FROM fact_cursor_daily_usage f"
            " JOIN ingestion_coverage c ON c.source = 'cursor' AND c.usage_date = f.usage_date"
            " WHERE c.state = 'final'"
        )
    by_day = {row["usage_date"]: (row["all_final"], row["any_final"]) for row in rows}
    assert by_day == {old: (True, True), yesterday: (False, False)}
    assert [row["usage_date"] for row in final_cursor_days] == [old]


async def test_days_postgresql_would_store_as_infinity_are_refused(
    db: asyncpg.Pool, database_dsn: str, simulator: Simulator
) -> None:
    """asyncpg writes 0001-01-01 and 9999-12-31 as -infinity and infinity: a coverage range
    over them never ended (its day series does not), pinning a database backend. They are
    refused where they come in, with the range that is accepted."""
    settings = simulator.settings(database_url=database_dsn)
    async with serve(settings) as api:
        for params in ({"start": "0001-01-01", "end": "0001-01-01"},
                       {"start": "9999-12-01", "end": "9999-12-31"}):  # fmt: skip
            response = await asyncio.wait_for(api.get("/coverage", params=params), timeout=10)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert "out of range (0001-01-02 to 9999-12-30)" in response.text
        response = await api.post(
            "/runs", json={"start_date": "0001-01-01", "end_date": "0001-01-02"}, headers=AUTH
        )
        assert response.status_code == 422 and "out of range" in response.text
        ok = await asyncio.wait_for(
            api.get("/coverage", params={"start": "0001-01-02", "end": "0001-01-03"}), timeout=10
        )
        counts = ok.json()["counts"]["default"]
        assert ok.status_code == 200 and len(ok.json()["days"]) == 2 * len(counts)
    env = {"DATABASE_URL": database_dsn, "CURSOR_API_KEY": "k"}
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["run", "--start", "0001-01-01", "--dry-run"], env=env
    )
    assert result.exit_code == 2 and "out of range" in result.output, result.output
