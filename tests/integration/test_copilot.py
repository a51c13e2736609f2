"""GitHub Copilot end to end, against the simulator's ground truth: an organisation of Copilot
users (most of them Cursor and Claude users too), seat holders who never use it, a seat removed
between two runs, logins resolved by SAML, by a verified-domain address, by the operator's
mapping and by a public address, and one login nothing resolves (kept, unattributed).

The usage table, the billing lines, the seat table and the cross-tool view equal the truth; a
re-run changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from app.orchestration.daily_job import RunOutcome
from app.orchestration.heal import plan_heal
from app.orchestration.run_request import PlannedRun
from app.orchestration.sources.registry import REGISTRY, SourceRegistry
from app.repositories.people import Login, replace_logins
from app.simulator.model import GroundTruth
from app.simulator.plumbing import SimulatorOptions
from app.upstreams.copilot.simulator.truth import (
    MAPPED_EMAIL,
    MAPPED_LOGIN,
    UNRESOLVED_LOGIN,
)
from app.upstreams.copilot.upstream import UPSTREAM as COPILOT_UPSTREAM
from app.vocabulary import CoverageState, RunStatus, SourceStatus
from tests.support.runs import execute_plan, states
from tests.support.services import Simulator, start_simulator

pytestmark = pytest.mark.reliability  # rows of the fault matrix (docs/reliability.md)
START, END = date(2026, 8, 3), date(2026, 8, 5)
COPILOT_DOC = (Path(__file__).resolve().parents[2] / "docs" / "copilot.md").read_text()
COPILOT = ("copilot_usage", "copilot_billing")
COPILOT_ONLY = SourceRegistry([COPILOT_UPSTREAM])  # heal only what this file is about


@pytest.fixture
def github() -> Iterator[Simulator]:
    sim = start_simulator(GroundTruth(seed=11, users=30), SimulatorOptions(page_cap=4))
    yield sim
    sim.server.should_exit = True


async def _run(
    db: asyncpg.Pool,
    sim: Simulator,
    start: date = START,
    end: date = END,
    sources: tuple[str, ...] = COPILOT,
) -> RunOutcome:
    async with db.acquire() as connection:  # the operator's mapping, as the truth expects it
        await replace_logins(connection, [Login("github", MAPPED_LOGIN, MAPPED_EMAIL)])
    settings = sim.settings(**sim.copilot())
    _, outcome = await execute_plan(db, settings, PlannedRun(start, end, sources))
    return outcome


async def _usage(db: asyncpg.Pool) -> dict[tuple[date, int], tuple[object, ...]]:
    async with db.acquire() as connection:
        rows = await connection.fetch(
            "SELECT usage_date, user_id, user_login, email, attribution_method,"
            " user_initiated_interaction_count, loc_added_sum, ai_credits_used"
            " FROM fact_copilot_daily_usage WHERE account = 'default'"
        )
    return {(r[0], r[1]): tuple(r)[2:] for r in rows}


async def _billed(db: asyncpg.Pool, day: date) -> dict[int | None, Decimal]:
    async with db.acquire() as connection:
        rows = await connection.fetch(
            "SELECT user_id, sum(net_amount_usd) FROM fact_copilot_billing_daily"
            " WHERE usage_date = $1 GROUP BY user_id",
            day,
        )
    return {r[0]: r[1] for r in rows}


async def test_copilot_tables_and_the_cross_tool_view_equal_the_truth(
    db: asyncpg.Pool, github: Simulator
) -> None:
    outcome = await _run(db, github)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason
    truth = github.truth
    assert await _usage(db) == truth.expected_copilot_rows(START, END)
    unresolved = [row for row in (await _usage(db)).values() if row[0] == UNRESOLVED_LOGIN]
    assert unresolved and all(row[1] is None for row in unresolved)
    for day in (START, END):
        assert await _billed(db, day) == truth.expected_copilot_billed(day)

    async with db.acquire() as connection:
        view = await connection.fetch(
            "SELECT usage_date, user_email, sum(billed_cost_usd) AS billed,"
            " sum(consumption_cost_usd) AS consumption, sum(accepted_lines) AS lines"
            " FROM ai_usage_by_user_day WHERE tool = 'copilot'"
            " GROUP BY usage_date, user_email"
        )
    want: dict[tuple[date, str | None], list[Decimal]] = {}
    for (day, user_id), (_, email, _, _, lines, credits) in truth.expected_copilot_rows(
        START, END
    ).items():
        totals = want.setdefault((day, email), [Decimal(0), Decimal(0), Decimal(0)])
        totals[0] += truth.expected_copilot_billed(day).get(user_id, Decimal(0))
        totals[1] += credits * Decimal("0.01")
        totals[2] += lines
    got = {(r[0], r[1]): [r["billed"], r["consumption"], r["lines"]] for r in view}
    assert got == want

    again = await _run(db, github)
    assert again.status == RunStatus.SUCCEEDED
    for progress in again.sources.values():
        assert (progress.rows_inserted, progress.rows_updated, progress.rows_deleted) == (0, 0, 0)


async def test_seats_are_kept_with_their_history(db: asyncpg.Pool, github: Simulator) -> None:
    assert (await _run(db, github, START, START)).status == RunStatus.SUCCEEDED
    truth = github.truth
    removed = truth.github_users[0]
    truth.copilot_removed_seats.add(removed.user_id)
    assert (await _run(db, github, START, START)).status == RunStatus.SUCCEEDED
    async with db.acquire() as connection:
        seats = await connection.fetch(
            "SELECT user_id, user_login, email, last_activity_at, removed_at FROM copilot_seats"
        )
    assert {s["user_id"] for s in seats} == {u.user_id for u in truth.github_users}
    gone = {s["user_id"] for s in seats if s["removed_at"] is not None}
    assert gone == {removed.user_id}
    idle = {u.user_id for u in truth.github_users if not u.active}
    assert len(idle) == 2
    assert {s["user_id"] for s in seats if s["last_activity_at"] is None} == idle


async def test_a_day_without_a_report_after_the_lag_fails_and_a_recent_one_waits(
    db: asyncpg.Pool, github: Simulator
) -> None:
    github.fault("metrics/reports/users-1-day", kind="status", status=404, message="Not Found")
    yesterday = date.today() - timedelta(days=1)
    outcome = await _run(db, github, START, START)
    assert outcome.status == RunStatus.PARTIAL
    usage = outcome.sources["copilot_usage"]
    assert usage.status == SourceStatus.FAILED
    assert usage.last_error == (
        "copilot metrics/reports/users-1-day: no report for 1 day(s) older than GitHub's"
        " two-day lag: 2026-08-03 (HTTP 404: Not Found)"
    )
    # Its billing waits for the day's users: not written, read again by the next heal.
    billing = outcome.sources["copilot_billing"]
    assert billing.rows_inserted == 0
    assert any("waits for its usage report" in w for w in billing.warnings)
    recent = await _run(db, github, yesterday, yesterday)
    assert recent.sources["copilot_usage"].status == SourceStatus.SUCCEEDED
    assert any("not published yet" in w for w in recent.sources["copilot_usage"].warnings)


async def test_bad_input_is_a_clear_error_or_a_counted_skip(
    db: asyncpg.Pool, github: Simulator
) -> None:
    # A signed link that expired before its download, then (in the links asked for again) a
    # record without its user id.
    github.fault("report-file", kind="status", status=403)
    github.fault("report-file", kind="null_field", field="user_id")
    # The token may read the reports but not the bills, nor the SAML identities.
    github.fault("billing/ai_credit/usage", kind="status", status=403,
                 message="Resource not accessible by personal access token")  # fmt: skip
    github.fault("graphql", kind="status", status=403, message="Must have admin rights", times=2)
    outcome = await _run(db, github, START, START)
    usage, billing = outcome.sources["copilot_usage"], outcome.sources["copilot_billing"]
    assert usage.status == SourceStatus.SUCCEEDED
    assert usage.skipped_by_reason == {"report record without user_id": 1}
    for what in ("SAML identities", "verified-domain emails"):  # both queries refused
        assert any(f"{what} not read" in w and "Must have admin rights" in w
                   for w in usage.warnings), usage.warnings  # fmt: skip
    assert billing.status == SourceStatus.FAILED
    assert billing.last_error == (
        "copilot rejected GITHUB_TOKEN (HTTP 403: Resource not accessible by personal access token)"
    )
    expected = github.truth.expected_copilot_rows(START, START)
    rows = await _usage(db)
    assert len(rows) == len(expected) - 1  # the one record without a user id
    async with db.acquire() as connection:
        billed = await connection.fetchval("SELECT count(*) FROM fact_copilot_billing_daily")
    assert billed == 0  # nothing half-written


async def test_metrics_disabled_fails_the_source_with_githubs_words(
    db: asyncpg.Pool, github: Simulator
) -> None:
    message = "Copilot Usage Metrics API access is disabled for this organization."
    github.fault("metrics/reports/users-1-day", kind="status", status=403, message=message)
    outcome = await _run(db, github, START, START)
    usage = outcome.sources["copilot_usage"]
    assert usage.status == SourceStatus.FAILED
    assert usage.last_error == f"copilot rejected GITHUB_TOKEN (HTTP 403: {message})"
    assert await _usage(db) == {}


async def test_the_schema_of_may_2026_and_premium_requests(
    db: asyncpg.Pool, github: Simulator
) -> None:
    """Before 2026-06: no AI credits (unknown, not 0), no phase, the agent flag's old name,
    billed in premium requests."""
    day = date(2026, 5, 27)
    outcome = await _run(db, github, day, day)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason
    rows = await _usage(db)
    assert rows == github.truth.expected_copilot_rows(day, day)
    assert all(row[5] is None for row in rows.values())
    async with db.acquire() as connection:
        units = await connection.fetch(
            "SELECT DISTINCT unit_type, price_per_unit_usd FROM fact_copilot_billing_daily"
        )
        cloud = await connection.fetchval(
            "SELECT count(*) FROM fact_copilot_daily_usage WHERE used_cloud_agent IS NULL"
        )
    assert [tuple(r) for r in units] == [("requests", Decimal("0.04"))]
    assert cloud == 0  # read from `used_copilot_coding_agent`
    assert await _billed(db, day) == github.truth.expected_copilot_billed(day)


async def test_the_documented_copilot_queries_add_up(db: asyncpg.Pool, github: Simulator) -> None:
    everything = REGISTRY.names()  # Cursor and Claude too: one person across three tools
    outcome = await _run(db, github, START, START, everything)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason
    per_person, idle = re.findall(r"```sql\n(.*?)```", COPILOT_DOC, flags=re.DOTALL)
    as_of = "DATE '2026-08-05'"
    async with db.acquire() as connection:
        people = await connection.fetch(per_person.replace("current_date", as_of))
        idle_seats = await connection.fetch(idle)
    truth = github.truth
    billed = truth.expected_copilot_billed(START)
    emails = {u.user_id: u.email for u in truth.github_users}
    want: dict[str, Decimal] = {}
    for user_id, amount in billed.items():
        if user_id is not None:
            person = emails[user_id] or "(unattributed)"
            want[person] = want.get(person, Decimal(0)) + amount
    got = {r["person"]: r["copilot_billed_usd"] for r in people if r["copilot_billed_usd"]}
    assert got == {person: amount for person, amount in want.items() if amount}
    three = [
        r
        for r in people
        if r["cursor_billed_usd"] is not None
        and r["claude_billed_usd"] is not None
        and r["copilot_billed_usd"] is not None
    ]
    assert three  # people on all three tools, counted once each
    assert len({r["person"] for r in people}) == len(people)
    for row in people:
        parts = (row["cursor_billed_usd"], row["claude_billed_usd"], row["copilot_billed_usd"])
        assert row["billed_usd"] == sum((p for p in parts if p is not None), Decimal(0))
    assert {r["user_login"] for r in idle_seats} >= {
        u.login for u in truth.github_users if not u.active
    }


async def test_a_failed_day_is_healed_and_then_final(db: asyncpg.Pool, github: Simulator) -> None:
    github.fault("metrics/reports/users-1-day", kind="status", status=500, times=6)  # one day
    first = await _run(db, github)
    assert first.sources["copilot_usage"].status == SourceStatus.FAILED
    settings = github.settings(**github.copilot(), backfill_horizon_days=3)
    known = await states(db, COPILOT, START, END)
    failed = {key for key, state in known.items() if state == CoverageState.FAILED}
    assert failed
    plan = await plan_heal(db, settings, today=END + timedelta(days=1), registry=COPILOT_ONLY)
    assert plan is not None and set(plan.sources) == set(COPILOT)
    _, healed = await execute_plan(db, settings, plan)
    assert healed.status == RunStatus.SUCCEEDED, healed.reason
    assert set((await states(db, COPILOT, START, END)).values()) == {CoverageState.FINAL}
    assert await _usage(db) == github.truth.expected_copilot_rows(START, END)
    assert (
        await plan_heal(db, settings, today=END + timedelta(days=1), registry=COPILOT_ONLY) is None
    )


async def test_an_enterprise_reads_the_enterprise_paths(
    db: asyncpg.Pool, github: Simulator
) -> None:
    settings = github.settings(
        **{**github.copilot(), "github_organization": None, "github_enterprise": "acme-sim"}
    )
    async with db.acquire() as connection:
        await replace_logins(connection, [Login("github", MAPPED_LOGIN, MAPPED_EMAIL)])
    _, outcome = await execute_plan(db, settings, PlannedRun(START, START, COPILOT))
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason
    rows = await _usage(db)
    want = github.truth.expected_copilot_rows(START, START)
    assert set(rows) == set(want)
    # Verified-domain addresses are an organisation's: an enterprise resolves by SAML and the
    # mapping only.
    for key, (login, email, method, *_) in want.items():
        if method == "verified_domain_email":
            assert rows[key][1:3] == (None, "unattributed")
        elif method != "public_email":
            assert rows[key][:3] == (login, email, method)
    assert await _billed(db, START) == github.truth.expected_copilot_billed(START)


async def test_billing_alone_asks_for_the_users_of_the_stored_usage_day(
    db: asyncpg.Pool, github: Simulator
) -> None:
    assert (await _run(db, github, START, START, ("copilot_usage",))).status == RunStatus.SUCCEEDED
    alone = await _run(db, github, START, START, ("copilot_billing",))
    assert alone.status == RunStatus.SUCCEEDED, alone.reason
    assert await _billed(db, START) == github.truth.expected_copilot_billed(START)


async def test_a_revised_day_is_read_again_and_equals_the_new_truth(
    db: asyncpg.Pool, github: Simulator
) -> None:
    assert (await _run(db, github)).status == RunStatus.SUCCEEDED
    revised = START + timedelta(days=1)
    github.truth.restate_copilot(revised)
    again = await _run(db, github)
    assert again.status == RunStatus.SUCCEEDED
    usage = again.sources["copilot_usage"]
    assert usage.rows_updated + usage.rows_inserted + usage.rows_deleted > 0  # the day moved
    assert await _usage(db) == github.truth.expected_copilot_rows(START, END)
    for day in (START, revised, END):
        assert await _billed(db, day) == github.truth.expected_copilot_billed(day)
