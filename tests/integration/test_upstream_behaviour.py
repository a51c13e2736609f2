"""Right numbers under what the upstream documents allow (issue: restarted page chains, a cost
source failing part-way, membership churn, unusable rows, inexact cost coordinates, concurrent
writers, currencies, empty days). Each test runs the real job against the simulator with a
fault, then compares the tables with the simulator's ground truth."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounts import AccountSource
from app.ingestion import streamed
from app.orchestration.run_request import PlannedRun
from app.repositories import runs as runs_repo
from app.vocabulary import RunTrigger
from tests.integration.jobs import (
    END,
    START,
    cost_by_workspace,
    cursor_against_truth,
    expected_cost_by_workspace,
    expected_totals,
    normalise,
    run_job,
    stored_cost_by_workspace,
    view_totals,
)
from tests.support.runs import execute_plan
from tests.support.services import EMPTY_EVERY_TABLE, Simulator

pytestmark = pytest.mark.reliability
SPEND_FIELDS = (
    "charged_cost_usd", "model_cost_usd", "token_fee_usd", "billable_requests", "usage_events",
    "chargeable_events", "headless_events", "input_tokens", "output_tokens",
)  # fmt: skip
BILLING = ["claude_usage", "claude_cost"]


async def _claude_equals_truth(db: asyncpg.Pool, simulator: Simulator) -> None:
    """Tokens, counters and billed cost per (day, platform) to the last digit, and allocated +
    reported equal to the cost report per (day, workspace), stored lines included."""
    assert normalise(await view_totals(db)) == expected_totals(simulator)
    assert await cost_by_workspace(db) == expected_cost_by_workspace(simulator)
    assert await stored_cost_by_workspace(db) == expected_cost_by_workspace(simulator)


# --- 1. restarted page chains --------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("cost_report", "invalid_cursor"),
        ("usage_report/messages", "invalid_cursor"),
        ("usage_report/claude_code", "invalid_cursor"),
        ("analytics/user_usage_report", "expired_cursor"),
        ("analytics/user_cost_report", "expired_cursor"),
        ("compliance/activities", "invalid_cursor"),
        ("users", "invalid_cursor"),
    ],
)
async def test_a_chain_restarted_mid_window_counts_nothing_twice(
    db: asyncpg.Pool, simulator: Simulator, endpoint: str, kind: str
) -> None:
    simulator.fault(endpoint, kind=kind, min_page=2)
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    assert simulator.app.state.faults.hits.get(endpoint) == 1  # the chain really restarted
    await _claude_equals_truth(db, simulator)


async def test_a_cursor_chunk_read_again_counts_nothing_twice(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("daily-usage-data", kind="invalid_cursor", min_page=3)
    _, outcome = await run_job(db, simulator, sources=["cursor"])
    assert outcome.status == "succeeded", outcome.reason
    table, truth = await cursor_against_truth(db, simulator)
    assert table == truth


# --- 2. cost failing part-way ----------------------------------------------------------------


async def test_cost_failing_part_way_keeps_usage_and_conserves_cost(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """Cost delivers its first days, then fails: no usage row is wiped or zeroed, and every
    day's allocated + reported equals the lines stored for it."""
    await run_job(db, simulator, sources=BILLING)
    simulator.truth.restate("claude", START + timedelta(days=2), people=5)
    simulator.fault("cost_report", kind="status", status=500, min_page=3, times=None)
    _, outcome = await run_job(db, simulator, sources=BILLING, upstream_max_attempts=1)
    assert outcome.sources["claude_usage"].status == "succeeded"
    assert outcome.sources["claude_cost"].status == "failed"
    async with db.acquire() as connection:
        tokens = await connection.fetch(
            "SELECT usage_date, sum(output_tokens) AS tokens FROM fact_claude_daily_usage"
            " WHERE source = 'usage_report' GROUP BY usage_date"
        )
    assert {row["usage_date"]: row["tokens"] for row in tokens} == {
        day: sum(row.output_tokens for row in simulator.truth.usage_rows(day))
        for day in simulator.truth.days(START, END)
    }  # usage is current on every day, the restated one included …
    assert await cost_by_workspace(db) == await stored_cost_by_workspace(db)  # … cost conserved
    simulator.app.state.faults.clear()
    await run_job(db, simulator, sources=BILLING)
    assert await cost_by_workspace(db) == expected_cost_by_workspace(simulator)


async def test_a_usage_only_run_conserves_the_stored_cost(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    await run_job(db, simulator, sources=BILLING)
    simulator.truth.restate("claude", START + timedelta(days=1), people=6)
    _, outcome = await run_job(db, simulator, sources=["claude_usage"])
    assert outcome.status == "succeeded", outcome.reason
    assert await cost_by_workspace(db) == await stored_cost_by_workspace(db)


# --- 3. Cursor membership churn ----------------------------------------------------------------


@pytest.mark.parametrize("part_rows", [None, 5])
@pytest.mark.parametrize("change", ["member_joins", "member_leaves"])
async def test_members_joining_or_leaving_mid_pagination(
    db: asyncpg.Pool,
    simulator: Simulator,
    change: str,
    part_rows: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`part_rows`: each page handed on in parts of that many rows (as a 30,000-row page is),
    so the chain is restarted with parts of a page already taken."""
    if part_rows is not None:
        monkeypatch.setattr(streamed, "ITEMS_PER_PART", part_rows)
    if change == "member_joins":  # the first member is not on the team when the run starts
        simulator.truth.cursor_member_leaves()
    simulator.fault("daily-usage-data", kind=change, min_page=2)
    _, outcome = await run_job(db, simulator, sources=["cursor"])
    assert outcome.status == "succeeded", outcome.reason
    table, truth = await cursor_against_truth(db, simulator)
    assert table == truth  # nobody doubled, nobody missing


async def test_a_team_that_keeps_changing_fails_the_source_naming_the_counts(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("daily-usage-data", kind="member_leaves", min_page=2, times=None)
    _, outcome = await run_job(db, simulator, sources=["cursor"])
    cursor = outcome.sources["cursor"]
    assert cursor.status == "failed"
    assert "distinct users read, pagination.totalUsers said" in str(cursor.last_error)


# --- 4. unusable rows ----------------------------------------------------------------------------


async def test_a_row_with_a_null_email_is_skipped_and_counted(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("daily-usage-data", kind="null_field", field="email")
    run_id, outcome = await run_job(db, simulator, sources=["cursor"])
    cursor = outcome.sources["cursor"]
    assert cursor.status == "succeeded"
    assert (cursor.rows_skipped, cursor.skipped_by_reason) == (1, {"missing email": 1})
    table, truth = await cursor_against_truth(db, simulator)
    assert len(truth) - len(table) == 1 and set(table) < set(truth)
    assert all(table[key] == truth[key] for key in table)
    async with db.acquire() as connection:
        stored = await runs_repo.get_run(connection, run_id)
    assert stored is not None and stored.progress[0].skipped_by_reason == {"missing email": 1}


async def test_ids_sent_as_null_strings_are_absent(db: asyncpg.Pool, simulator: Simulator) -> None:
    """Live accounts send `"serviceAccountId": "null"` on a person's Cursor event (a captured
    fixture, docs/upstream-fixtures.md); an absent id may also come as "" or " ". A person's
    spend stays on the person's row, a key-less usage result is nobody's service account, and
    every table equals the truth."""
    simulator.fault("filtered-usage-events", kind="blank_ids", times=None)
    simulator.fault("usage_report/messages", kind="blank_ids", times=None)
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    assert simulator.app.state.faults.hits["filtered-usage-events"] > 0
    spend = {
        key: {column: values[column] for column in SPEND_FIELDS}
        for key, values in simulator.truth.expected_cursor_spend(START, END).items()
    }
    async with db.acquire() as connection:
        rows = await connection.fetch(
            f"SELECT usage_date, email, {', '.join(SPEND_FIELDS)} FROM fact_cursor_daily_usage"
            " WHERE usage_events IS NOT NULL"
        )
        blank = await connection.fetchval(
            "SELECT count(*) FROM fact_claude_daily_usage WHERE service_account_id IN"
            " ('null', '', ' ') OR account_id IN ('null', '', ' ')"
            " OR api_key_id IN ('null', '', ' ')"
        )
    table = {(r["usage_date"], r["email"]): {c: r[c] for c in SPEND_FIELDS} for r in rows}
    assert not any(email.endswith(":null") for _, email in table)
    assert table == spend
    assert blank == 0
    await _claude_equals_truth(db, simulator)


# --- 5. inexact cost coordinates -------------------------------------------------------------


async def test_loosely_matching_cost_lines_are_allocated_to_people(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    inexact = START + timedelta(days=1)
    simulator.truth.inexact_cost_days.add(inexact)
    _, outcome = await run_job(db, simulator, sources=BILLING)
    assert outcome.status == "succeeded", outcome.reason
    assert await cost_by_workspace(db) == expected_cost_by_workspace(simulator)
    async with db.acquire() as connection:
        residual_tokens = await connection.fetchval(
            "SELECT count(*) FROM fact_claude_daily_usage WHERE usage_date = $1"
            " AND source = 'cost_report' AND cost_type = 'tokens'",
            inexact,
        )
        bases = await connection.fetch(
            "SELECT DISTINCT allocation_basis FROM fact_claude_daily_usage"
            " WHERE usage_date = $1 AND source = 'usage_report' AND cost_kind = 'allocated'",
            inexact,
        )
        unbilled = await connection.fetchval(
            "SELECT count(*) FROM fact_claude_daily_usage WHERE usage_date = $1"
            " AND source = 'usage_report' AND service_tier = 'flex' AND output_tokens > 0"
            " AND cost_usd IS NULL",
            inexact,
        )
    assert residual_tokens == 0  # every token line found its people
    assert unbilled == 0
    assert {row["allocation_basis"] for row in bases} - {"exact"}  # relaxed levels were used


# --- 7. two writers of one day -----------------------------------------------------------------


async def test_two_runs_writing_the_same_days_leave_digests_that_describe_them(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    settings = simulator.settings()
    plan = PlannedRun(START, END, ("cursor", *BILLING))

    async def one() -> None:
        await execute_plan(db, settings, plan, RunTrigger.CLI)

    await asyncio.gather(one(), one())
    async with db.acquire() as connection:
        mismatched = await connection.fetchval(
            """
            SELECT count(*) FROM fact_day_digests d
             WHERE d.row_count <> (
                 SELECT count(*) FROM fact_claude_daily_usage f
                  WHERE d.target_table = 'fact_claude_daily_usage'
                    AND f.usage_date = d.usage_date AND f.source = d.source)
               AND d.target_table = 'fact_claude_daily_usage'
            """
        )
    assert mismatched == 0
    simulator.truth.restate("cursor", START, people=4)
    simulator.truth.restate("claude", START, people=4)
    await run_job(db, simulator, sources=["cursor", *BILLING])
    table, truth = await cursor_against_truth(db, simulator)
    assert table == truth  # a later run is never skipped by a stale digest
    assert await cost_by_workspace(db) == expected_cost_by_workspace(simulator)


# --- 8. currency ------------------------------------------------------------------------------


async def test_a_currency_other_than_usd_fails_the_cost_source_clearly(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    simulator.fault("cost_report", kind="set_field", field="currency", value="EUR", times=None)
    _, outcome = await run_job(db, simulator, sources=BILLING)
    cost = outcome.sources["claude_cost"]
    assert cost.status == "failed"
    assert cost.last_error == "cost_report: amount in EUR, but the tables hold USD only"


# --- 9. empty days -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "sources"),
    [
        ("daily-usage-data", ["cursor"]),
        ("usage_report/messages", BILLING),
        ("cost_report", BILLING),
    ],
)
async def test_a_day_that_comes_back_empty_is_kept_with_a_warning(
    db: asyncpg.Pool, simulator: Simulator, endpoint: str, sources: list[str]
) -> None:
    await run_job(db, simulator, sources=sources)
    before_cursor = await cursor_against_truth(db, simulator)
    before_cost = await cost_by_workspace(db)
    emptied = START + timedelta(days=1)
    simulator.fault(endpoint, kind="empty_day", field=emptied.isoformat(), times=None)
    _, outcome = await run_job(db, simulator, sources=sources)
    assert outcome.status == "succeeded", outcome.reason
    warnings = [w for progress in outcome.sources.values() for w in progress.warnings]
    assert any(str(emptied) in warning for warning in warnings), warnings
    assert await cursor_against_truth(db, simulator) == before_cursor
    assert await cost_by_workspace(db) == before_cost
    # Applied deliberately, the empty day replaces what the table held.
    _, outcome = await run_job(db, simulator, sources=sources, allow_empty_day_replacement=True)
    if endpoint == "daily-usage-data":
        table, _ = await cursor_against_truth(db, simulator)
        assert not [key for key in table if key[0] == emptied]
    else:
        assert await cost_by_workspace(db) == await stored_cost_by_workspace(db)


async def test_a_window_that_is_empty_everywhere_is_applied(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """Nothing at all is an answer, not a suspicion: with no other day of the answer to
    compare it with, an empty day is applied (and its cost stays conserved, as residual)."""
    await run_job(db, simulator, start=START, end=START, sources=BILLING)
    simulator.fault("usage_report/messages", kind="empty_day", field=START.isoformat(), times=None)
    _, outcome = await run_job(db, simulator, start=START, end=START, sources=BILLING)
    assert outcome.status == "succeeded", outcome.reason
    assert not [w for p in outcome.sources.values() for w in p.warnings]
    async with db.acquire() as connection:
        usage_rows = await connection.fetchval(
            "SELECT count(*) FROM fact_claude_daily_usage WHERE source = 'usage_report'"
        )
    assert usage_rows == 0
    assert await cost_by_workspace(db) == await stored_cost_by_workspace(db)


# --- the property --------------------------------------------------------------------------

RESTARTS = [
    ("cost_report", "invalid_cursor"),
    ("usage_report/messages", "invalid_cursor"),
    ("usage_report/claude_code", "invalid_cursor"),
    ("analytics/user_usage_report", "expired_cursor"),
    ("analytics/user_cost_report", "invalid_cursor"),
    ("compliance/activities", "invalid_cursor"),
    ("users", "invalid_cursor"),
    ("api_keys", "invalid_cursor"),
    ("daily-usage-data", "invalid_cursor"),
    ("daily-usage-data", "member_leaves"),
    ("cost_report", "status"),
    ("usage_report/messages", "status"),
]
FAULTS = st.lists(
    st.tuples(st.sampled_from(RESTARTS), st.integers(min_value=1, max_value=4)),
    min_size=1,
    max_size=4,
    unique_by=lambda fault: fault[0],
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(faults=FAULTS)
async def test_after_any_faults_and_one_clean_rerun_the_tables_equal_the_truth(
    db: asyncpg.Pool, simulator: Simulator, faults: list[tuple[tuple[str, str], int]]
) -> None:
    """Restarts at random pages of random endpoints, members leaving mid-pagination, a billing
    report failing from a random page: the faulty run leaves every day's cost conserved, and
    one clean re-run makes the tables equal the ground truth."""
    async with db.acquire() as connection:
        await connection.execute(EMPTY_EVERY_TABLE)
    simulator.app.state.faults.clear()
    for (endpoint, kind), page in faults:
        spec = {"status": 500, "times": None} if kind == "status" else {}
        simulator.fault(endpoint, kind=kind, min_page=max(page, 2), **spec)
    await run_job(db, simulator, upstream_max_attempts=1)
    assert await cost_by_workspace(db) == await stored_cost_by_workspace(db)

    simulator.app.state.faults.clear()
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    await _claude_equals_truth(db, simulator)
    table, truth = await cursor_against_truth(db, simulator)
    assert table == truth


# --- 10. upstream drift -----------------------------------------------------------------------


async def test_an_endpoint_announcing_its_retirement_is_said_once_and_counted(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    from app import metrics

    counter = metrics.UPSTREAM_DRIFT.labels("anthropic", "cost_report", "deprecated")
    before = counter._value.get()
    simulator.fault("cost_report", kind="deprecated", times=None)
    _, outcome = await run_job(db, simulator)
    assert outcome.status == "succeeded", outcome.reason
    said = [w for w in outcome.sources["claude_cost"].warnings if "Deprecation" in w]
    assert said == [
        "anthropic cost_report answered with Deprecation: @1767225600, Sunset: Thu, 31 Dec 2026"
        " 23:59:59 GMT: the endpoint is being retired; see the upstream's changelog"
    ]
    assert counter._value.get() - before == simulator.app.state.faults.hits["cost_report"] > 1
    await _claude_equals_truth(db, simulator)


async def test_an_endpoint_that_answered_before_and_now_is_gone_fails_its_days(
    db: asyncpg.Pool, simulator: Simulator
) -> None:
    """Eight dashboards went silently empty when an API they read was shut down: here the
    source fails loudly, a day it never had is `failed` in the ledger (never zeros), the days it
    had keep their rows and carry the error."""
    from app import metrics
    from app.repositories import coverage as coverage_repo

    await run_job(db, simulator, sources=["claude_code"])
    async with db.acquire() as connection:
        held = await connection.fetchval(
            "SELECT count(*) FROM fact_claude_daily_usage WHERE source = 'claude_code_analytics'"
        )
    counter = metrics.UPSTREAM_DRIFT.labels("anthropic", "usage_report/claude_code", "gone")
    before = counter._value.get()
    simulator.fault("usage_report/claude_code", kind="status", status=404, times=None,
                    message="Not found")  # fmt: skip
    later = END + timedelta(days=1)
    _, outcome = await run_job(db, simulator, START, later, sources=["claude_code"])
    error = outcome.sources["claude_code"].last_error or ""
    assert outcome.status == "failed"
    assert "answered HTTP 404: Not found; it answered before (last on " in error, error
    assert "the days stay failed" in error
    assert counter._value.get() - before == 1
    async with db.acquire() as connection:
        days = {
            d.day: d
            for d in await coverage_repo.coverage(
                connection, [AccountSource("default", "claude_code")], START, later
            )
        }
        still = await connection.fetchval(
            "SELECT count(*) FROM fact_claude_daily_usage WHERE source = 'claude_code_analytics'"
        )
    assert days[later].state == "failed" and "it answered before" in (days[later].last_error or "")
    assert all(days[d].last_error == days[later].last_error for d in days)
    assert still == held > 0


@pytest.mark.parametrize(("days_left", "warned"), [(10, True), (60, False)])
async def test_a_key_of_ours_that_expires_soon_is_a_warning_and_shows_in_sources(
    db: asyncpg.Pool, database_dsn: str, days_left: int, warned: bool
) -> None:
    from datetime import UTC, datetime

    from app.simulator.app import SimulatorOptions
    from app.simulator.model import GroundTruth
    from tests.integration.conftest import serve
    from tests.support.services import start_simulator

    expires = (datetime.now(UTC) + timedelta(days=days_left)).replace(microsecond=0)
    options = SimulatorOptions(compliance_key_expires_at=expires.isoformat())
    sim = start_simulator(GroundTruth(seed=11, users=8), options)
    try:
        _, outcome = await run_job(db, sim, sources=["claude_code"])
        assert outcome.status == "succeeded", outcome.reason
        said = [w for w in outcome.sources["claude_code"].warnings if "expires" in w]
        assert bool(said) is warned, said
        if warned:
            assert said[0].startswith(
                "ANTHROPIC_COMPLIANCE_API_KEY (key apikey_compliance_export) expires "
                f"{expires:%Y-%m-%d %H:%M} UTC"
            )
        async with serve(sim.settings(database_url=database_dsn)) as api:
            keys = (await api.get("/sources")).json()["keys"]
    finally:
        sim.server.should_exit = True
    [key] = keys
    assert key["setting"] == "ANTHROPIC_COMPLIANCE_API_KEY"
    assert datetime.fromisoformat(key["expires_at"]) == expires
    assert key["expiring_soon"] is warned
    assert days_left - 1 < key["expires_in_days"] <= days_left
