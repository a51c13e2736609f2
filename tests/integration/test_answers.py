"""Answers against the simulator's ground truth, over a known stretch of August 2026: spend by
tool, person and team; a budget crossed on day 17 that alerts exactly once (two replicas, a
late revision of day 16, a receiver that fails three times); idle seats, and a seat whose use
is unknown ("no data", never idle)."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY as REGISTRY_METRICS

from app.config import Settings
from app.orchestration import insights
from app.orchestration.alerts import deliver_due, evaluate_budgets
from app.orchestration.digest import record_digest
from app.orchestration.run_request import PlannedRun, RunRequest, plan_run
from app.orchestration.sources.registry import REGISTRY
from app.processing.seats import SeatStatus
from app.repositories import alerts as alerts_repo
from app.repositories.alerts import TeamMember
from app.repositories.people import Login, replace_logins
from app.simulator.model import GroundTruth
from app.simulator.plumbing import SimulatorOptions
from app.upstreams.copilot.simulator.truth import MAPPED_EMAIL, MAPPED_LOGIN
from app.vocabulary import RunStatus, SourceStatus
from tests.integration.conftest import AUTH, serve
from tests.integration.jobs import expected_totals
from tests.support.receiver import Receiver, start_receiver
from tests.support.runs import execute_plan
from tests.support.services import Simulator, start_simulator

# The service (GET /alerts) points the logs at this module's captured stderr.
pytestmark = [pytest.mark.usefixtures("logs_restored"), pytest.mark.reliability]
START, DAY16, DAY17 = date(2026, 8, 1), date(2026, 8, 16), date(2026, 8, 17)
EVERYTHING = REGISTRY.names()
ANSWERS_DOC = (Path(__file__).resolve().parents[2] / "docs" / "answers.md").read_text()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = start_simulator(GroundTruth(seed=5, users=12), SimulatorOptions(page_cap=50))
    yield simulator
    simulator.server.should_exit = True


def settings_of(sim: Simulator, dsn: str, **overrides: Any) -> Settings:
    return sim.settings(database_url=dsn, **sim.copilot(), **overrides)


async def _ingest(
    db: asyncpg.Pool, settings: Settings, start: date, end: date, accounts: list[str] | None = None
) -> None:
    async with db.acquire() as connection:
        await replace_logins(connection, [Login("github", MAPPED_LOGIN, MAPPED_EMAIL)])
    plan = plan_run(settings, RunRequest(start, end, EVERYTHING, accounts))
    _, outcome = await execute_plan(db, settings, plan)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason


def _people(truth: GroundTruth) -> list[str]:
    return sorted(person.email for person in truth.people)


def _teams(truth: GroundTruth) -> list[TeamMember]:
    """Half the people in `platform`, half in `data`, one of them moving on 2026-08-10, two
    in no team."""
    people = _people(truth)
    members = [
        TeamMember(email, "platform" if n % 2 else "data", date(1970, 1, 1))
        for n, email in enumerate(people[2:])
    ]
    members.append(TeamMember(people[3], "data", date(2026, 8, 10)))  # a move
    return members


def _team_of(members: list[TeamMember], email: str | None, day: date) -> str:
    found = [m for m in members if m.email == email and m.effective_from <= day]
    return max(found, key=lambda m: m.effective_from).team if found else "unassigned"


async def test_spend_by_tool_person_and_team_equals_the_truth(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> None:
    settings = settings_of(sim, database_dsn)
    await _ingest(db, settings, START, DAY17)
    truth = sim.truth
    members = _teams(truth)
    async with db.acquire() as connection:
        await alerts_repo.replace_teams(connection, members)

    rows = await insights.spend(db, START, DAY17, ["tool", "person"])
    got = {(r.group["tool"], r.group["person"]): r.billed_usd for r in rows}
    # Cursor: billed beyond the plan, per person, to the last digit of the events' truth.
    cursor: dict[str, Decimal] = defaultdict(Decimal)
    for (_, who), values in truth.expected_cursor_spend(START, DAY17).items():
        if not who.startswith("service-account:"):
            cursor[who] += values["on_demand_cost_usd"]  # type: ignore[operator]
    people = {(t, p): v for (t, p), v in got.items() if not p.startswith("service-account:")}
    assert {p: v for (t, p), v in people.items() if t == "cursor" and v} == {
        p: v for p, v in cursor.items() if v
    }
    # Copilot: each user's billed net.
    copilot: dict[str, Decimal] = defaultdict(Decimal)
    emails = {u.user_id: u.email or "(unattributed)" for u in truth.github_users}
    for day in (START + timedelta(days=n) for n in range(17)):
        for user_id, amount in truth.expected_copilot_billed(day).items():
            if user_id is not None:
                copilot[emails[user_id]] += amount
    assert {p: v for (t, p), v in got.items() if t == "copilot" and v} == {
        p: v for p, v in copilot.items() if v
    }
    # Claude: per day and platform, as the truth bills it.
    claude = await insights.spend(db, START, DAY17, ["day", "platform"], {"tool": "claude"})
    assert {(date.fromisoformat(r.group["day"]), r.group["platform"]): r.billed_usd
            for r in claude} == {k: v["billed_cost_usd"]
                                 for k, v in expected_totals(sim, START, DAY17).items()}  # fmt: skip

    # Teams: each person-day under the team it had that day; the people without one unassigned.
    async with db.acquire() as connection:
        view = await connection.fetch(
            "SELECT usage_date, person_email, billed_cost_usd FROM ai_usage_by_person_day"
            " WHERE usage_date BETWEEN $1 AND $2", START, DAY17,
        )  # fmt: skip
    teams: dict[str, Decimal] = defaultdict(Decimal)
    for row in view:
        teams[_team_of(members, row["person_email"], row["usage_date"])] += row["billed_cost_usd"]
    by_team = await insights.spend(db, START, DAY17, ["team"])
    assert {r.group["team"]: r.billed_usd for r in by_team} == dict(teams)
    assert {"platform", "data", "unassigned"} <= set(teams)
    # Everything, once: the fact tables summed; days fetched in December are all final.
    (total,) = await insights.spend(db, START, DAY17, [])
    assert total.billed_usd == sum((row["billed_cost_usd"] for row in view), Decimal(0))
    assert total.billed_provisional_usd == 0


def _deliveries() -> dict[str, float]:
    return {
        outcome: REGISTRY_METRICS.get_sample_value("alert_deliveries_total", {"outcome": outcome})
        or 0.0
        for outcome in ("delivered", "retried", "failed")
    }


async def _kinds(db: asyncpg.Pool) -> list[str]:
    async with db.acquire() as connection:
        return [r[0] for r in await connection.fetch("SELECT kind FROM alerts ORDER BY id")]


async def _cum(db: asyncpg.Pool, scope: dict[str, str], through: date) -> Decimal:
    daily = await insights.spend(db, START, through, ["day"], scope)
    return sum((row.billed_usd for row in daily), Decimal(0))


async def test_a_budget_crossed_on_day_17_alerts_exactly_once(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> None:
    receiver = start_receiver(failures=3)
    try:
        await _budget_alerts_once(db, database_dsn, sim, receiver)
    finally:
        receiver.stop()


async def _budget_alerts_once(
    db: asyncpg.Pool, dsn: str, sim: Simulator, receiver: Receiver
) -> None:
    hooks = json.dumps([{"name": "ops", "format": "json", "url": receiver.url}])
    settings = settings_of(sim, dsn, webhook_urls=hooks, alert_retry_base_seconds=0)
    await _ingest(db, settings, START, DAY17)
    scope = {"tool": "cursor"}
    before, after = await _cum(db, scope, DAY16), await _cum(db, scope, DAY17)
    assert before < after
    amount = ((before + after) / 2).quantize(Decimal("0.01"))
    async with db.acquire() as connection:
        budget = await alerts_repo.upsert_budget(connection, "tool", "cursor", amount, [Decimal(1)])

    # Up to day 16 (evaluated on the 17th): not crossed, but projected to cross (a warning).
    assert await evaluate_budgets(db, settings, today=DAY17) == 1
    assert await _kinds(db) == ["budget_projected"]
    # Two replicas evaluate day 17 at once: one alert.
    # Two replicas: each its own pool (and, below, its own HTTP client).
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=4) for _ in range(2)]
    try:
        found = await asyncio.gather(
            *(evaluate_budgets(pool, settings, today=DAY17 + timedelta(days=1)) for pool in pools)
        )
        assert sorted(found) == [0, 1]
        assert await _kinds(db) == ["budget_projected", "budget_threshold"]
        # Day 16 is revised upstream and read again: the month moves, the alert does not repeat.
        sim.truth.restate("cursor_events", DAY16, 4)
        _, again = await execute_plan(db, settings, PlannedRun(DAY16, DAY16, ("cursor_spend",)))
        assert again.status == RunStatus.SUCCEEDED
        for day in (DAY17 + timedelta(days=1), DAY17 + timedelta(days=2)):
            assert await asyncio.gather(
                *(evaluate_budgets(p, settings, today=day) for p in pools)
            ) == [0, 0]
        # Both replicas deliver; the receiver fails three times, then takes it — once.
        counted = _deliveries()
        async with httpx.AsyncClient() as one, httpx.AsyncClient() as other:
            for _ in range(8):
                await asyncio.gather(
                    deliver_due(pools[0], one, settings), deliver_due(pools[1], other, settings)
                )
    finally:
        for pool in pools:
            await pool.close()
    # Three failures, then each alert received exactly once — and counted so.
    assert len(receiver.attempts) == 5
    assert {k: _deliveries()[k] - counted[k] for k in counted} == {
        "delivered": 2, "retried": 3, "failed": 0,
    }  # fmt: skip
    assert sorted(a["kind"] for a in receiver.received) == ["budget_projected", "budget_threshold"]
    (alert,) = [a for a in receiver.received if a["kind"] == "budget_threshold"]
    assert alert["kind"] == "budget_threshold"
    assert alert["payload"]["budget_id"] == budget.id
    assert alert["payload"]["crossed_on"] == str(DAY17)
    assert alert["payload"]["rests_on_provisional"] is False
    async with serve(settings) as api:
        listed = (await api.get("/alerts", headers=AUTH)).json()
    deliveries = [d for a in listed for d in a["deliveries"]]
    assert {(d["target"], d["status"]) for d in deliveries} == {("ops", "delivered")}
    assert sum(d["attempts"] for d in deliveries) == 5


async def test_idle_seats_equal_the_truth_and_unknown_use_is_no_data(
    db: asyncpg.Pool,
    database_dsn: str,
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A second GitHub organisation whose usage reports GitHub refuses: its seats are listed,
    # their use never read.
    late = start_simulator(
        GroundTruth(seed=6, users=6),
        SimulatorOptions(github_token="ghp_lateAccount0123456789abcdef"),
    )
    late.fault("metrics/reports/users-1-day", kind="status", status=403, times=None,
               message="Copilot Usage Metrics API access is disabled for this organization.")  # fmt: skip
    monkeypatch.setenv("AUP_GH_LATE", late.options.github_token)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[account]]\nname = "gh-late"\nkind = "github_organization"\n'
        f'organization = "acme-sim"\nsecret_env = "AUP_GH_LATE"\nbase_url = "{late.url}"\n'
    )
    settings = settings_of(sim, database_dsn, accounts_file=accounts)
    try:
        await _ingest(db, settings, START, DAY17, accounts=["default"])
        plan = plan_run(settings, RunRequest(START, DAY17, accounts=["gh-late"]))
        _, outcome = await execute_plan(db, settings, plan)
        usage = outcome.sources["gh-late/copilot_usage"]
        assert usage.status == SourceStatus.FAILED  # its usage refused; its seats listed
    finally:
        late.server.should_exit = True
    report = await insights.seats(db, settings, DAY17)
    truth = sim.truth
    copilot = {
        s.seat: s.status for s in report.seats if s.tool == "copilot" and s.account == "default"
    }
    assert {int(seat) for seat, status in copilot.items() if status == SeatStatus.IDLE} == {
        u.user_id for u in truth.github_users if not u.active
    }
    late = {s.status for s in report.seats if s.account == "gh-late"}
    assert late == {SeatStatus.NO_DATA}  # never idle: nobody read their use
    members = truth.cursor_members()
    idle_cursor = {
        p.email for p in members
        if not any(truth.cursor_row(p, START + timedelta(days=n))["isActive"] for n in range(17))
    }  # fmt: skip
    assert {
        s.email for s in report.seats if s.tool == "cursor" and s.status == SeatStatus.IDLE
    } == idle_cursor
    idle_copilot_price = Decimal(19) * sum(1 for u in truth.github_users if not u.active)
    assert report.reclaimable_usd() >= idle_copilot_price


async def test_the_documented_team_query_agrees_with_the_api(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> None:
    await _ingest(db, settings_of(sim, database_dsn), START, DAY17)
    members = _teams(sim.truth)
    async with db.acquire() as connection:
        await alerts_repo.replace_teams(connection, members)
    (query,) = re.findall(r"```sql\n(.*?)```", ANSWERS_DOC, flags=re.DOTALL)
    async with db.acquire() as connection:
        rows = await connection.fetch(query.replace("current_date", "DATE '2026-08-17'"))
    api = await insights.spend(db, START, DAY17, ["team", "tool"])
    assert {(r["team"], r["tool"]): r["billed_usd"] for r in rows} == {
        (r.group["team"], r.group["tool"]): r.billed_usd for r in api
    }


async def test_the_weekly_digest_is_recorded_once_for_the_webhooks(
    db: asyncpg.Pool, database_dsn: str, sim: Simulator
) -> None:
    hooks = json.dumps(
        [{"name": "team-chat", "format": "slack", "url": "https://hooks.acme.test/x"}]
    )
    settings = settings_of(sim, database_dsn, webhook_urls=hooks)
    await _ingest(db, settings, START, DAY17)
    monday = date(2026, 8, 17)  # the schedule fires on Monday: the week of 10–16 August
    assert await record_digest(db, settings, monday) is True
    assert await record_digest(db, settings, monday) is False  # another replica's slot
    async with db.acquire() as connection:
        (alert,) = await alerts_repo.recent_alerts(connection, 10)
    assert (alert.kind, alert.dedup_key) == ("digest", "digest:2026-W33")
    assert [d["target"] for d in alert.deliveries] == ["team-chat"]
    assert str(alert.payload["markdown"]).startswith("# AI usage, week 2026-W33 (2026-08-10")
    by_tool = {row["name"]: Decimal(str(row["billed_usd"])) for row in alert.payload["by_tool"]}
    week = await insights.spend(db, date(2026, 8, 10), DAY16, ["tool"])
    assert by_tool == {row.group["tool"]: row.billed_usd for row in week}
