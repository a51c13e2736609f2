"""The daily job end to end: simulator over loopback → processing → real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from decimal import Decimal

import asyncpg

from app.simulator.world import CI_KEY_ID, CLAUDE_CODE_WORKSPACE
from tests.integration.jobs import (
    END,
    START,
    expected_totals,
    normalise,
    run_job,
    snapshot,
    view_totals,
)
from tests.support.services import Simulator

SPEND_FIELDS = (
    "charged_cost_usd", "model_cost_usd", "token_fee_usd", "billable_requests", "usage_events",
    "chargeable_events", "headless_events", "input_tokens", "output_tokens",
    "cache_write_tokens", "cache_read_tokens",
)  # fmt: skip

CURSOR_FIELDS = {
    "total_lines_added": "totalLinesAdded",
    "accepted_lines_added": "acceptedLinesAdded",
    "agent_requests": "agentRequests",
    "subscription_included_reqs": "subscriptionIncludedReqs",
    "bugbot_usages": "bugbotUsages",
    "is_active": "isActive",
    "most_used_model": "mostUsedModel",
}


async def test_a_three_day_run_equals_the_ground_truth(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    run_id, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason

    # Cursor: one row per person and day, every counter as upstream, emails normalised.
    table = await snapshot(db, "fact_cursor_daily_usage")
    cursor = {key: row for key, row in table.items() if row["in_daily_usage"]}
    expected = simulator.truth.expected_cursor_rows(START, END)
    assert set(cursor) == set(expected)
    for key, row in cursor.items():
        assert {column: row[column] for column in CURSOR_FIELDS} == {
            column: expected[key][field] for column, field in CURSOR_FIELDS.items()
        }
        assert (row["attribution_method"], row["attribution_confidence"]) == (
            "direct_email",
            Decimal("1.00"),
        )
        assert row["run_id"] == run_id
    # Cursor spend: every (day, person or service account) with events, to the last digit.
    spend = simulator.truth.expected_cursor_spend(START, END)
    assert {
        key: {c: row[c] for c in SPEND_FIELDS} for key, row in table.items() if row["usage_events"]
    } == {key: {c: values[c] for c in SPEND_FIELDS} for key, values in spend.items()}

    # Claude: per day and platform, the view equals the ground truth to the last digit, which
    # also proves Claude Code tokens are not counted twice (analytics + messages report).
    assert normalise(await view_totals(db)) == expected_totals(simulator)

    # Attribution of every messages-usage row through its key's creator.
    async with db.acquire() as connection:
        usage = await connection.fetch(
            "SELECT api_key_id, account_id, service_account_id, user_email, attribution_method,"
            " attribution_confidence, platform, platform_basis, workspace_id"
            " FROM fact_claude_daily_usage WHERE source = 'usage_report'"
        )
        costs = await connection.fetch(
            "SELECT usage_date, workspace_id, sum(cost_usd) AS cost FROM fact_claude_daily_usage"
            " WHERE source IN ('usage_report', 'cost_report') AND cost_kind IN ('allocated', 'reported')"
            " GROUP BY usage_date, workspace_id"
        )
        api_actor = await connection.fetch(
            "SELECT actor_name, user_email, attribution_method FROM fact_claude_daily_usage"
            " WHERE source = 'claude_code_analytics' AND actor_type = 'api_actor'"
        )
    assert usage
    for row in usage:
        assert (row["user_email"], row["attribution_method"]) == (
            simulator.truth.expected_usage_attribution(
                row["api_key_id"], row["account_id"], row["service_account_id"]
            )
        )
        if row["account_id"]:  # OAuth: the upstream named the person's own account
            assert row["attribution_confidence"] == Decimal("1.00")
        assert (row["platform"], row["platform_basis"]) == (
            ("claude_code", "claude_code_workspace")
            if row["workspace_id"] == CLAUDE_CODE_WORKSPACE
            else ("claude_code", "claude_code_key")
            if row["api_key_id"] == CI_KEY_ID
            else ("claude_api", "other_workspace")
        )
    assert {row["account_id"] for row in usage} - {None}, "the simulator sends OAuth rows"
    assert {row["service_account_id"] for row in usage} - {None}
    by_name = {
        row["actor_name"]: (row["user_email"], row["attribution_method"]) for row in api_actor
    }
    assert by_name.get("ci-claude-code") == (simulator.truth.people[0].email, "key_name_match")
    assert by_name.get("shared-sandbox", (None, "unattributed")) == (None, "unattributed")

    # Every cent of the cost report, per day and workspace: allocated + residual = reported.
    for day in simulator.truth.days(START, END):
        got = {row["workspace_id"]: row["cost"] for row in costs if row["usage_date"] == day}
        assert got == simulator.truth.expected_cost_by_workspace(day)

    # The run reports what it did, per source.
    for name, progress in outcome.sources.items():
        assert progress.status == "succeeded", name
        assert progress.days_done == progress.days_total
        assert progress.rows_updated == progress.rows_deleted == 0
    assert outcome.sources["cursor"].rows_inserted == len(cursor)


async def test_the_same_run_again_changes_nothing(db: asyncpg.Pool, simulator: Simulator) -> None:
    await run_job(db, simulator)
    before = {
        table: await snapshot(db, table)
        for table in ("fact_cursor_daily_usage", "fact_claude_daily_usage")
    }
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded"
    after = {table: await snapshot(db, table) for table in before}
    assert after == before  # not even updated_at or run_id moved
    for progress in outcome.sources.values():
        assert (progress.rows_inserted, progress.rows_updated, progress.rows_deleted) == (0, 0, 0)
        assert progress.rows_unchanged > 0
    cursor_rows = before["fact_cursor_daily_usage"].values()
    assert outcome.sources["cursor"].rows_unchanged == sum(r["in_daily_usage"] for r in cursor_rows)
    assert outcome.sources["cursor_spend"].rows_unchanged == sum(
        r["usage_events"] is not None for r in cursor_rows
    )
    claude_unchanged = sum(
        p.rows_unchanged for n, p in outcome.sources.items() if not n.startswith("cursor")
    )
    assert claude_unchanged == len(before["fact_claude_daily_usage"])


async def test_a_restatement_updates_exactly_the_changed_rows(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator)
    tables = ("fact_cursor_daily_usage", "fact_claude_daily_usage")
    before = {table: await snapshot(db, table) for table in tables}
    restated_day = date(2026, 8, 2)
    simulator.truth.restate("cursor", restated_day, people=6)
    simulator.truth.restate("claude", restated_day, people=8)
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded"
    moving = ("updated_at", "run_id", "first_seen_at", "k")

    def content(row: dict[str, object]) -> dict[str, object]:
        return {column: value for column, value in row.items() if column not in moving}

    written = {"fact_cursor_daily_usage": 0, "fact_claude_daily_usage": 0}
    for table in tables:
        old, new = before[table], await snapshot(db, table)
        kept = old.keys() & new.keys()
        changed = {key for key in kept if content(new[key]) != content(old[key])}
        rewritten = {key for key in kept if new[key]["updated_at"] != old[key]["updated_at"]}
        appeared, vanished = new.keys() - old.keys(), old.keys() - new.keys()
        assert changed or appeared, table  # the restatement reached this table
        assert rewritten == changed, table  # exactly the changed rows were rewritten
        assert {key[0] for key in changed | appeared | vanished} == {restated_day}
        assert all(new[key]["first_seen_at"] == old[key]["first_seen_at"] for key in kept)
        written[table] = len(changed) + len(appeared) + len(vanished)
    cursor = outcome.sources["cursor"]
    assert cursor.rows_updated == written["fact_cursor_daily_usage"]
    claude = [p for name, p in outcome.sources.items() if name != "cursor"]
    assert (
        sum(p.rows_updated + p.rows_inserted + p.rows_deleted for p in claude)
        == written["fact_claude_daily_usage"]
    )
    # ... and the result is again exactly the (restated) ground truth.
    assert normalise(await view_totals(db)) == expected_totals(simulator)


async def test_cursor_failing_for_good_makes_the_run_partial(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("daily-usage-data", kind="status", status=503, times=None)
    _, outcome = await run_job(db, simulator, upstream_max_attempts=3)
    assert outcome.status == "partial"
    cursor = outcome.sources["cursor"]
    assert cursor.status == "failed" and cursor.upstream_status == 503
    assert "failed after 3 attempts: HTTP 503: Simulated HTTP 503" in str(cursor.last_error)
    assert cursor.retries == 2
    assert outcome.reason is not None and outcome.reason.startswith("cursor: ")
    cursor_rows = (await snapshot(db, "fact_cursor_daily_usage")).values()
    assert not any(row["in_daily_usage"] for row in cursor_rows)  # no daily-usage columns
    assert outcome.sources["cursor_spend"].status == "succeeded"  # spend has its own columns
    assert normalise(await view_totals(db)) == expected_totals(simulator)  # Claude complete


async def test_a_failure_mid_day_leaves_all_of_the_day_or_none(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator, sources=["claude_code"])
    before = await snapshot(db, "fact_claude_daily_usage")
    assert before
    simulator.truth.restate("claude", START, people=5)  # the next run would change the day...
    simulator.fault(
        "usage_report/claude_code", kind="malformed", min_page=2, times=None
    )  # ...but breaks
    _, outcome = await run_job(db, simulator, sources=["claude_code"], upstream_max_attempts=2)
    assert outcome.status == "failed"
    assert "not valid JSON" in str(outcome.sources["claude_code"].last_error)
    assert (
        await snapshot(db, "fact_claude_daily_usage") == before
    )  # old day intact, nothing half-new

    # Cursor pages of a window: a later page failing writes none of the window's days.
    simulator.fault(
        "daily-usage-data", kind="drop_field", field="agentRequests", min_page=3, times=None
    )
    _, outcome = await run_job(db, simulator, sources=["cursor"])
    assert outcome.sources["cursor"].status == "failed"
    assert "malformed page" in str(outcome.sources["cursor"].last_error)
    assert "page 3" in str(outcome.sources["cursor"].last_error)
    assert await snapshot(db, "fact_cursor_daily_usage") == {}


async def test_usage_alone_keeps_the_cost_allocated_earlier(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator, sources=["claude_usage", "claude_cost"])
    before = await snapshot(db, "fact_claude_daily_usage")
    _, outcome = await run_job(db, simulator, sources=["claude_usage"])
    assert list(outcome.sources) == ["claude_usage"]
    assert await snapshot(db, "fact_claude_daily_usage") == before


async def test_cost_failing_keeps_usage_and_the_earlier_cost(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator, sources=["claude_cost"])  # brings claude_usage along
    before = await snapshot(db, "fact_claude_daily_usage")
    simulator.fault("cost_report", kind="status", status=500, times=None)
    _, outcome = await run_job(db, simulator, sources=["claude_cost"], upstream_max_attempts=2)
    assert outcome.status == "partial"
    assert outcome.sources["claude_usage"].status == "succeeded"
    assert outcome.sources["claude_cost"].status == "failed"
    assert await snapshot(db, "fact_claude_daily_usage") == before


async def test_sources_really_run_concurrently(db: asyncpg.Pool, simulator: Simulator) -> None:
    simulator.fault("*", kind="latency", ms=200, times=None)
    started = time.monotonic()
    _, outcome = await run_job(db, simulator)
    wall = time.monotonic() - started
    assert outcome.status == "succeeded"
    durations = [
        (p.finished_at - p.started_at).total_seconds()
        for p in outcome.sources.values()
        if p.started_at and p.finished_at
    ]
    assert len(durations) == 6
    assert wall < 0.7 * sum(durations), (wall, durations)


async def test_progress_is_visible_while_the_run_goes(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("*", kind="latency", ms=150, times=None)
    task = asyncio.create_task(run_job(db, simulator, sources=["claude_code", "cursor"]))
    seen: list[tuple[str, int]] = []
    while not task.done():
        await asyncio.sleep(0.3)
        async with db.acquire() as connection:
            rows = await connection.fetch(
                "SELECT r.status, coalesce(sum(s.pages), 0) AS pages FROM ingestion_runs r"
                " LEFT JOIN ingestion_run_sources s ON s.run_id = r.id GROUP BY r.id, r.status"
            )
        seen.extend((row["status"], int(row["pages"])) for row in rows)
    _, outcome = await task
    running_pages = [pages for status, pages in seen if status == "running"]
    assert len(set(running_pages)) >= 2  # the counters moved while it ran
    async with db.acquire() as connection:
        final = await connection.fetchrow("SELECT status, finished_at FROM ingestion_runs")
    assert final is not None and final["status"] == outcome.status == "succeeded"
