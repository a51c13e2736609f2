"""Cursor cost per person and day from usage events, reconciled with /teams/spend, and the
cross-tool view — each against the simulator's ground truth."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tests.integration.jobs import END, START, run_job, snapshot
from tests.support.services import Simulator

SPEND = ["cursor_spend"]
SPEND_FIELDS = (
    "charged_cost_usd", "on_demand_cost_usd", "included_cost_usd", "model_cost_usd",
    "discount_usd", "derived_cost_events", "token_fee_usd", "billable_requests", "usage_events",
    "chargeable_events", "headless_events", "input_tokens", "output_tokens",
    "cache_write_tokens", "cache_read_tokens",
)  # fmt: skip


async def spend_table(db: asyncpg.Pool) -> dict[tuple[date, str], dict[str, Any]]:
    return {
        key: {column: row[column] for column in SPEND_FIELDS}
        for key, row in (await snapshot(db, "fact_cursor_daily_usage")).items()
        if row["usage_events"] is not None
    }


def spend_truth(simulator: Simulator, start: date = START, end: date = END) -> dict[Any, Any]:
    return {
        key: {column: values[column] for column in SPEND_FIELDS}
        for key, values in simulator.truth.expected_cursor_spend(start, end).items()
    }


async def test_cost_and_tokens_per_person_and_day_equal_the_truth_over_many_pages(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    _, outcome = await run_job(db, simulator, sources=SPEND)
    assert outcome.status == "succeeded", outcome.reason
    progress = outcome.sources["cursor_spend"]
    assert progress.pages > 3 * 3  # page_cap=4: every day is many pages
    assert await spend_table(db) == spend_truth(simulator)
    rows = await snapshot(db, "fact_cursor_daily_usage")
    service = [row for row in rows.values() if row["service_account_id"] is not None]
    assert service and all(
        row["email"].startswith("service-account:")
        and row["service_account_name"] == "Background agent"
        and row["attribution_method"] == "service_account"
        and not row["in_daily_usage"]
        for row in service
    )
    assert all(isinstance(row["charged_cost_usd"], Decimal) for row in rows.values())


async def test_a_rerun_changes_nothing_and_a_restated_event_changes_exactly_its_day(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator, sources=["cursor", *SPEND])
    before = await snapshot(db, "fact_cursor_daily_usage")
    _, outcome = await run_job(db, simulator, sources=["cursor", *SPEND])
    assert await snapshot(db, "fact_cursor_daily_usage") == before  # not even updated_at
    spend = outcome.sources["cursor_spend"]
    assert (spend.rows_inserted, spend.rows_updated, spend.rows_deleted) == (0, 0, 0)

    restated = date(2026, 8, 2)
    simulator.truth.restate("cursor_events", restated, people=3)
    _, outcome = await run_job(db, simulator, sources=["cursor", *SPEND])
    assert outcome.status == "succeeded", outcome.reason
    after = await snapshot(db, "fact_cursor_daily_usage")
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed and {day for day, _ in changed} == {restated}
    assert all(  # the daily-usage columns of the restated day's rows did not move
        after[key]["total_lines_added"] == before[key]["total_lines_added"]
        for key in changed
        if key in before and key in after
    )
    assert await spend_table(db) == spend_truth(simulator)
    assert outcome.sources["cursor"].rows_updated == 0


async def test_daily_usage_and_spend_share_rows_without_touching_each_other(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """Either source alone, in either order: a row holds both sources' columns, and a person
    one source stops reporting loses only that source's columns."""
    truth = simulator.truth
    await run_job(db, simulator, sources=SPEND)
    await run_job(db, simulator, sources=["cursor"])
    rows = await snapshot(db, "fact_cursor_daily_usage")
    both = [r for r in rows.values() if r["in_daily_usage"] and r["usage_events"] is not None]
    assert both
    assert await spend_table(db) == spend_truth(simulator)

    leaving = truth.cursor_members()[0]  # gone from daily usage; their events remain
    truth.cursor_member_leaves(leaving.index)
    truth.views.clear()
    _, outcome = await run_job(db, simulator, sources=["cursor"])
    assert outcome.status == "succeeded", outcome.reason
    theirs = {k: r for k, r in (await snapshot(db, "fact_cursor_daily_usage")).items()
              if k[1] == leaving.email}  # fmt: skip
    with_events = {k for k in spend_truth(simulator) if k[1] == leaving.email}
    assert set(theirs) == with_events  # rows with events stay, spend intact
    assert all(not r["in_daily_usage"] and r["total_lines_added"] == 0 for r in theirs.values())
    assert await spend_table(db) == spend_truth(simulator)


@pytest.mark.parametrize("kind", ["invalid_cursor", "events_arrive"])
async def test_a_day_read_again_counts_no_event_twice(
    db: asyncpg.Pool, simulator: Simulator, kind: str
) -> None:
    """A rejected page, or events arriving while a day is read (offsets shift, and events have
    no id to tell a repeat from a new one): the day is read again from page 1."""
    simulator.fault("filtered-usage-events", kind=kind, min_page=2, value=3)
    _, outcome = await run_job(db, simulator, sources=SPEND)
    assert outcome.status == "succeeded", outcome.reason
    assert simulator.app.state.faults.hits.get("filtered-usage-events") == 1
    assert await spend_table(db) == spend_truth(simulator)


async def test_an_event_without_email_or_service_account_is_skipped_and_counted(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("filtered-usage-events", kind="drop_field", field="userEmail", min_page=2)
    _, outcome = await run_job(db, simulator, sources=SPEND)
    progress = outcome.sources["cursor_spend"]
    assert progress.status == "succeeded"
    assert progress.skipped_by_reason.get("no email or service account", 0) > 0


async def _within_one_hour(db: asyncpg.Pool, simulator: Simulator, **run: Any) -> Any:
    """A run whose reconciliation and the simulator's spend see the same last full hour (the
    clock crossing an hour mid-run makes them differ by that hour's events: run it again)."""
    for _ in range(3):
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        _, outcome = await run_job(db, simulator, **run)
        if datetime.now(UTC).replace(minute=0, second=0, microsecond=0) == hour:
            return outcome
    raise AssertionError("the clock kept crossing hours")


async def test_reconciliation_is_zero_on_the_truth_and_reports_a_drifted_spend(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """The cycle began two days ago; the run reads its complete days, the reconciliation
    today's events so far — against /teams/spend, which the simulator derives from the events
    up to the last full hour."""
    today = datetime.now(UTC).date()
    first, yesterday = today - timedelta(days=2), today - timedelta(days=1)
    simulator.truth.cursor_cycle = (first, today)
    outcome = await _within_one_hour(db, simulator, start=first, end=yesterday, sources=SPEND)
    progress = outcome.sources["cursor_spend"]
    details = progress.details["reconciliation"]
    assert details["cycle_start"] == first.isoformat()
    assert details["cycle_days_not_ingested"] == 0
    assert Decimal(details["difference_usd"]) == 0
    assert Decimal(details["largest_difference_usd"]) == 0
    assert Decimal(details["spend_usd"]) > 0
    assert not progress.warnings

    simulator.truth.cursor_spend_drift_cents = Decimal("1234.5")  # $12.345 more than events
    simulator.truth.cursor_spend_old_shape = True  # and the older response shape
    outcome = await _within_one_hour(db, simulator, start=first, end=yesterday, sources=SPEND)
    progress = outcome.sources["cursor_spend"]
    assert progress.status == "succeeded"  # a difference is a warning, never a failure
    details = progress.details["reconciliation"]
    assert Decimal(details["largest_difference_usd"]) == Decimal("12.345")
    assert details["largest_difference_email"] == simulator.truth.cursor_members()[0].email
    assert Decimal(details["difference_usd"]) == Decimal("-12.345")
    assert any("spend reconciliation: 1 member(s)" in w for w in progress.warnings)


async def test_reconciliation_of_a_cycle_not_yet_ingested_is_recorded_not_compared(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    today = datetime.now(UTC).date()
    # A cycle begun days ago (the default, this calendar month, has no whole day on the 1st).
    simulator.truth.cursor_cycle = (today - timedelta(days=5), today)
    _, outcome = await run_job(db, simulator, sources=SPEND)  # August, not this cycle
    progress = outcome.sources["cursor_spend"]
    assert progress.status == "succeeded"
    assert progress.details["reconciliation"]["cycle_days_not_ingested"] > 0
    assert any("not ingested yet" in w for w in progress.warnings)
    assert not any("member(s) differ" in w for w in progress.warnings)


async def test_a_day_without_events_beside_days_with_events_is_kept_with_a_warning(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator, sources=SPEND)
    before = await spend_table(db)
    emptied = date(2026, 8, 2)
    simulator.fault("filtered-usage-events", kind="empty_day", field=str(emptied), times=None)
    _, outcome = await run_job(db, simulator, sources=SPEND)
    assert outcome.status == "succeeded", outcome.reason
    assert any(str(emptied) in w for w in outcome.sources["cursor_spend"].warnings)
    assert await spend_table(db) == before
    _, outcome = await run_job(db, simulator, sources=SPEND, allow_empty_day_replacement=True)
    assert {day for day, _ in await spend_table(db)} == {START, END}  # applied deliberately


async def test_the_cross_tool_view_puts_cursor_and_claude_side_by_side_once(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    async with db.acquire() as connection:
        rows = await connection.fetch("SELECT * FROM ai_usage_by_user_day")
        claude = await connection.fetch("SELECT * FROM claude_usage_by_user_day")
    keys = [(r["usage_date"], r["user_email"], r["tool"], r["platform"]) for r in rows]
    assert len(keys) == len(set(keys))  # one row per (day, person, tool, platform)

    cursor = {(r["usage_date"], r["user_email"]): r for r in rows if r["tool"] == "cursor"}
    spend = simulator.truth.expected_cursor_spend(START, END)
    daily = {
        (day, email.lower()): row
        for (day, email), row in simulator.truth.expected_cursor_rows(START, END).items()
    }
    assert set(cursor) == set(spend) | set(daily)
    for key, row in cursor.items():
        values = spend.get(key)
        # Billed: what reaches the invoice beyond the plan; the included part beside it.
        assert row["billed_cost_usd"] == (values["on_demand_cost_usd"] if values else 0)
        assert row["included_cost_usd"] == (values["included_cost_usd"] if values else 0)
        tokens = sum(  # type: ignore[misc]
            values[c] for c in ("input_tokens", "output_tokens", "cache_write_tokens",
                                "cache_read_tokens")
        ) if values else 0  # fmt: skip
        assert row["tokens"] == tokens
        assert row["requests"] == (values["billable_requests"] if values else 0)
        assert row["accepted_lines"] == (daily[key]["acceptedLinesAdded"] if key in daily else 0)
        assert row["is_service_account"] == key[1].startswith("service-account:")

    side = {
        (r["usage_date"], r["user_email"], r["platform"]): r for r in rows if r["tool"] == "claude"
    }
    assert set(side) == {(r["usage_date"], r["user_email"], r["platform"]) for r in claude}
    for r in claude:
        mine = side[(r["usage_date"], r["user_email"], r["platform"])]
        assert mine["billed_cost_usd"] == r["billed_cost_usd"]
        assert mine["estimated_cost_usd"] == r["estimated_cost_usd"]
        assert mine["sessions"] == r["sessions"]
