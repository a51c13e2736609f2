"""Several accounts in one deployment, against the accounts simulator's ground truth.

Two Cursor teams (`north`, `south`) and one Anthropic organisation (`org`): every table holds
each account's truth under its account, a person in a Cursor team and in the organisation
adds up across tools and accounts, and a re-run changes nothing. One account answering 401
fails only its own sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from app.orchestration.run_request import RunRequest, plan_run
from app.simulator.accounts import BOTH_TEAMS_EMAIL, SHARED_EMAIL, three_accounts
from app.simulator.plumbing import SimulatorOptions
from app.vocabulary import RunStatus, SourceStatus
from tests.integration.conftest import AUTH, serve, wait_for
from tests.integration.jobs import CURSOR_COUNTERS, expected_totals_of, normalise
from tests.support.accounts import (
    AccountsSimulator,
    cursor_truth,
    person_cursor_truth,
    person_usage_report_tokens,
    start_accounts_simulator,
)
from tests.support.metrics import scrape, value
from tests.support.runs import execute_plan

START, END = date(2026, 8, 1), date(2026, 8, 3)
ACCOUNTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "accounts.md"


@pytest.fixture
def accounts() -> Iterator[AccountsSimulator]:
    sim = start_accounts_simulator(
        three_accounts(options=SimulatorOptions(page_cap=4, bucket_cap=2))
    )
    yield sim
    sim.server.should_exit = True


async def _run(db: asyncpg.Pool, sim: AccountsSimulator, **asked: object) -> object:
    settings = sim.settings()
    plan = plan_run(settings, RunRequest(START, END, **asked))  # type: ignore[arg-type]
    _, outcome = await execute_plan(db, settings, plan)
    return outcome


async def _cursor_table(db: asyncpg.Pool, account: str) -> dict[tuple[date, str], object]:
    async with db.acquire() as connection:
        rows = await connection.fetch(
            f"SELECT usage_date, email, {', '.join(CURSOR_COUNTERS)} FROM fact_cursor_daily_usage"
            " WHERE account = $1 AND in_daily_usage",
            account,
        )
    return {(r["usage_date"], r["email"]): tuple(r[c] for c in CURSOR_COUNTERS) for r in rows}


async def test_three_accounts_each_hold_their_truth_and_a_person_adds_up(
    db: asyncpg.Pool, accounts: AccountsSimulator
) -> None:
    outcome = await _run(db, accounts)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.reason  # type: ignore[attr-defined]
    assert set(outcome.sources) == {  # type: ignore[attr-defined]
        "north/cursor", "north/cursor_spend", "south/cursor", "south/cursor_spend",
        "org/claude_code", "org/claude_usage", "org/claude_cost",
    }  # fmt: skip

    for team in ("north", "south"):
        assert await _cursor_table(db, team) == cursor_truth(accounts.truth(team), START, END)
    async with db.acquire() as connection:
        rows = await connection.fetch(
            "SELECT account, usage_date, platform, sum(uncached_input_tokens) AS uncached_input_tokens,"
            " sum(cache_creation_input_tokens) AS cache_creation_input_tokens,"
            " sum(cache_read_input_tokens) AS cache_read_input_tokens,"
            " sum(output_tokens) AS output_tokens, sum(billed_cost_usd) AS billed_cost_usd,"
            " sum(estimated_cost_usd) AS estimated_cost_usd, sum(sessions) AS sessions,"
            " sum(lines_added) AS lines_added, sum(lines_removed) AS lines_removed,"
            " sum(commits) AS commits, sum(pull_requests) AS pull_requests,"
            " sum(tool_accepted) AS tool_accepted, sum(tool_rejected) AS tool_rejected"
            " FROM claude_usage_by_user_day GROUP BY 1, 2, 3"
        )
    assert {row["account"] for row in rows} == {"org"}
    got = normalise(
        {
            (r["usage_date"], r["platform"]): {
                k: v or 0
                for k, v in dict(r).items()
                if k not in ("account", "usage_date", "platform")
            }
            for r in rows
        }
    )
    expected = expected_totals_of(accounts.truth("org"), START, END, enterprise_analytics=False)
    assert got == expected

    # One person across tools and accounts: counted once, their totals the truths' sum.
    north_tokens, north_billed = person_cursor_truth(
        accounts.truth("north"), SHARED_EMAIL, START, END
    )
    org_tokens = person_usage_report_tokens(accounts.truth("org"), SHARED_EMAIL, START, END)
    both = [
        person_cursor_truth(accounts.truth(t), BOTH_TEAMS_EMAIL, START, END)
        for t in ("north", "south")
    ]
    async with db.acquire() as connection:
        people = await connection.fetch(
            "SELECT person_email, count(DISTINCT account) AS accounts, sum(tokens) AS tokens,"
            " sum(billed_cost_usd) FILTER (WHERE tool = 'cursor') AS cursor_billed"
            " FROM ai_usage_by_person_day WHERE person_email = ANY($1::text[])"
            " GROUP BY person_email",
            [SHARED_EMAIL, BOTH_TEAMS_EMAIL],
        )
        distinct_people = await connection.fetchval(
            "SELECT count(DISTINCT person_email) FROM ai_usage_by_person_day"
            " WHERE person_email IN ($1, $2)",
            SHARED_EMAIL,
            BOTH_TEAMS_EMAIL,
        )
    by_person = {row["person_email"]: row for row in people}
    assert distinct_people == 2
    ana = by_person[SHARED_EMAIL]
    assert (ana["accounts"], ana["tokens"], ana["cursor_billed"]) == (
        2,
        north_tokens + org_tokens,
        north_billed,
    )
    assert org_tokens > 0 and north_tokens > 0
    bo = by_person[BOTH_TEAMS_EMAIL]
    assert (bo["accounts"], bo["tokens"]) == (2, sum(t for t, _ in both))
    assert bo["cursor_billed"] == sum((b for _, b in both), Decimal(0))

    # The queries of docs/accounts.md agree with the truth.
    across, per_account = [
        query.replace("current_date", "DATE '2026-08-04'").replace("ana@acme.dev", SHARED_EMAIL)
        for query in re.findall(r"```sql\n(.*?)```", ACCOUNTS_DOC.read_text(), flags=re.DOTALL)
    ]
    async with db.acquire() as connection:
        people = {row["person_email"]: row for row in await connection.fetch(across)}
        split = {
            (r["account"], r["tool"]): r["billed_usd"] for r in await connection.fetch(per_account)
        }
    assert (people[SHARED_EMAIL]["accounts"], people[SHARED_EMAIL]["tokens"]) == (
        2,
        north_tokens + org_tokens,
    )
    assert split[("north", "cursor")] == north_billed and set(split) == {
        ("north", "cursor"),
        ("org", "claude"),
    }

    again = await _run(db, accounts)
    assert again.status == RunStatus.SUCCEEDED  # type: ignore[attr-defined]
    for name, progress in again.sources.items():  # type: ignore[attr-defined]
        assert (progress.rows_inserted, progress.rows_updated, progress.rows_deleted) == (
            0,
            0,
            0,
        ), name


async def test_one_account_answering_401_fails_only_its_own_sources(
    db: asyncpg.Pool, accounts: AccountsSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_KEY_SOUTH", "sim-cursor-key-revoked")  # the team revoked it
    outcome = await _run(db, accounts)
    assert outcome.status == RunStatus.PARTIAL  # type: ignore[attr-defined]
    sources = outcome.sources  # type: ignore[attr-defined]
    for name in ("south/cursor", "south/cursor_spend"):
        assert sources[name].status is SourceStatus.FAILED
        assert sources[name].upstream_status == 401
        assert "account south's key (secret_env SIM_KEY_SOUTH)" in sources[name].last_error
        assert "Invalid API key" in sources[name].last_error  # the upstream's own message
    others = {name: p.status for name, p in sources.items() if not name.startswith("south/")}
    assert set(others.values()) == {SourceStatus.SUCCEEDED}, others
    assert await _cursor_table(db, "north") == cursor_truth(accounts.truth("north"), START, END)
    assert await _cursor_table(db, "south") == {}
    async with db.acquire() as connection:
        failed = await connection.fetch(
            "SELECT DISTINCT account, source FROM ingestion_coverage WHERE state = 'failed'"
        )
    assert {(r["account"], r["source"]) for r in failed} == {
        ("south", "cursor"),
        ("south", "cursor_spend"),
    }


async def test_a_run_of_chosen_accounts_and_an_unknown_one(
    db: asyncpg.Pool, accounts: AccountsSimulator
) -> None:
    outcome = await _run(db, accounts, accounts=["org"], sources=None)
    assert set(outcome.sources) == {"org/claude_code", "org/claude_usage", "org/claude_cost"}  # type: ignore[attr-defined]
    from app.orchestration.run_request import InvalidRunRequest

    with pytest.raises(
        InvalidRunRequest, match=r"unknown account\(s\): east \(known: north, south, org\)"
    ):
        plan_run(accounts.settings(), RunRequest(START, END, accounts=["east"]))
    with pytest.raises(InvalidRunRequest, match="account north configures none of the sources"):
        plan_run(
            accounts.settings(),
            RunRequest(START, END, sources=["claude_code"], accounts=["north"]),
        )


async def test_the_api_names_accounts_in_runs_coverage_sources_and_metrics(
    db: asyncpg.Pool, database_dsn: str, accounts: AccountsSimulator
) -> None:
    settings = accounts.settings(database_url=database_dsn, worker_poll_seconds=0.2)
    async with serve(settings) as api:
        unknown = await api.post("/runs", json={"accounts": ["east"]}, headers=AUTH)
        assert unknown.status_code == 422
        assert unknown.headers["content-type"] == "application/problem+json"
        assert "unknown account(s): east (known: north, south, org)" in unknown.json()["detail"]
        body = {"start_date": str(START), "end_date": str(END), "accounts": ["north", "org"]}
        response = await api.post("/runs", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        run = await wait_for(api, response.headers["location"])
        assert run["status"] == "succeeded", run["status_reason"]
        assert run["accounts"] == ["north", "org"]
        assert sorted((p["account"], tuple(p["sources"])) for p in run["parts"]) == [
            ("north", ("cursor",)), ("north", ("cursor_spend",)),
            ("org", ("claude_code", "claude_usage", "claude_cost")),
        ]  # fmt: skip
        assert {(p["account"], p["source"]) for p in run["progress"]} == {
            ("north", "cursor"), ("north", "cursor_spend"), ("org", "claude_code"),
            ("org", "claude_usage"), ("org", "claude_cost"),
        }  # fmt: skip
        coverage = (
            await api.get("/coverage", params={"start": str(START), "end": str(END)})
        ).json()
        assert (
            coverage["counts"]["north"]["cursor"]["provisional"]
            + coverage["counts"]["north"]["cursor"]["final"]
            == 3
        )
        assert coverage["counts"]["south"]["cursor"]["missing"] == 3
        only = await api.get("/coverage", params={"account": "south", "start": str(START)})
        assert {day["account"] for day in only.json()["days"]} == {"south"}
        sources = (await api.get("/sources")).json()
        assert [(a["name"], a["kind"]) for a in sources["accounts"]] == [
            ("north", "cursor_team"), ("south", "cursor_team"), ("org", "anthropic_organization")
        ]  # fmt: skip
        families = await scrape(api)
    assert value(
        families, "ingestion_last_success_timestamp_seconds",
        "ingestion_last_success_timestamp_seconds", account="north", source="cursor",
    ) > 0  # fmt: skip


async def test_heal_plans_each_accounts_own_missing_days(
    db: asyncpg.Pool, accounts: AccountsSimulator
) -> None:
    from app.accounts import AccountSource
    from app.orchestration.heal import plan_heal
    from app.orchestration.run_request import stored_run

    await _run(db, accounts, accounts=["north"])  # only north has Aug 1–3
    settings = accounts.settings(backfill_horizon_days=4)
    plan = await plan_heal(db, settings, today=date(2026, 8, 5))
    assert plan is not None
    four_days, last_day = (START, date(2026, 8, 4)), (date(2026, 8, 4), date(2026, 8, 4))
    assert dict(plan.windows) == {
        AccountSource("north", "cursor"): last_day,
        AccountSource("north", "cursor_spend"): last_day,
        **{AccountSource(a, s): four_days for a in ("south",) for s in ("cursor", "cursor_spend")},
        **{
            AccountSource("org", s): four_days
            for s in ("claude_code", "claude_usage", "claude_cost")
        },
    }
    stored = stored_run(plan)
    assert stored.source_windows is not None
    assert stored.source_windows["north"]["cursor"] == last_day
    assert stored.days_of("south", "cursor") == 4


async def test_the_cli_calendar_and_dry_run_name_accounts(
    db: asyncpg.Pool, database_dsn: str, accounts: AccountsSimulator
) -> None:
    import asyncio

    from typer.testing import CliRunner

    from app.cli import cli

    await _run(db, accounts, accounts=["north"])
    env = {
        "DATABASE_URL": database_dsn, "ACCOUNTS_FILE": str(accounts.file), "COLUMNS": "250",
        "CURSOR_API_KEY": "", "ANTHROPIC_ADMIN_API_KEY": "",
    }  # fmt: skip
    dry = await asyncio.to_thread(
        CliRunner().invoke, cli, ["run", "--dry-run", "--accounts", "north,org"], env=env
    )
    assert dry.exit_code == 0, dry.output
    assert "account north: cursor, cursor_spend" in dry.output
    assert "account org: claude_code, claude_usage, claude_cost" in dry.output
    unknown = await asyncio.to_thread(
        CliRunner().invoke, cli, ["run", "--dry-run", "--accounts", "east"], env=env
    )
    assert unknown.exit_code == 2 and "unknown account(s): east" in unknown.output
    calendar = await asyncio.to_thread(
        CliRunner().invoke, cli, ["coverage", "--days", "5", "--account", "north"], env=env
    )
    assert calendar.exit_code == 0, calendar.output
    assert "north/cursor " in calendar.output and "north/cursor_spend" in calendar.output
    assert "south" not in calendar.output


@pytest.mark.usefixtures("logs_restored")
async def test_an_account_only_the_data_names_is_said_at_start(
    db: asyncpg.Pool,
    database_dsn: str,
    accounts: AccountsSimulator,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Renaming an account in the file alone would start a new account beside the old data:
    every start says which account the data holds that no configuration names."""
    async with db.acquire() as connection:
        await connection.execute(
            "INSERT INTO coverage_days (account, source, usage_date, last_failed_at, failures)"
            " VALUES ('research', 'claude_code', '2026-08-01', now(), 1)"
        )
    async with serve(accounts.settings(database_url=database_dsn)):
        pass
    logs = capfd.readouterr().err
    assert "usage-pipeline accounts rename research NEW-NAME" in logs
    assert '"account": "research"' in logs
