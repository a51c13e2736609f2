"""Two replicas (each with its worker processes) and four accounts: every (account, sources)
part of a run is executed exactly once, by some worker process of some replica, and the same
key id in two organisations stays two keys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from app.simulator.accounts import accounts_environment, four_accounts
from tests.e2e.conftest import AUTH, TOKEN, WINDOW, wait_for_run
from tests.support.accounts import AccountsSimulator, start_accounts_simulator
from tests.support.services import BearerUnlessGiven


@pytest.fixture
def accounts() -> Iterator[AccountsSimulator]:
    sim = start_accounts_simulator(four_accounts(users=16))
    yield sim
    sim.server.should_exit = True


async def test_two_replicas_and_four_accounts_run_each_part_once(
    services: Any, accounts: AccountsSimulator, e2e_database: str
) -> None:
    env = {
        "CURSOR_API_KEY": "",  # only the file's accounts
        "ANTHROPIC_ADMIN_API_KEY": "",
        "ACCOUNTS_FILE": str(accounts.file),
        "WORKER_PROCESSES": "2",
        **accounts_environment(accounts.accounts),
    }
    replicas = [services(**env), services(**env)]
    async with httpx.AsyncClient(auth=BearerUnlessGiven(TOKEN), timeout=30) as client:
        response = await client.post(f"{replicas[0].url}/runs", json=WINDOW, headers=AUTH)
        assert response.status_code == 202, response.text
        run = await wait_for_run(client, f"{replicas[1].url}{response.headers['location']}")
    assert run["status"] == "succeeded", run["status_reason"]
    assert sorted((p["account"], tuple(p["sources"])) for p in run["parts"]) == [
        ("lab", ("claude_code", "claude_usage", "claude_cost")),
        ("north", ("cursor",)), ("north", ("cursor_spend",)),
        ("org", ("claude_code", "claude_usage", "claude_cost")),
        ("south", ("cursor",)), ("south", ("cursor_spend",)),
    ]  # fmt: skip
    replica_ids = {replica.worker_id for replica in replicas}
    for part in run["parts"]:
        assert part["status"] == "succeeded"
        assert part["worker_id"].rpartition("/")[0] in replica_ids
    # Exactly once: each team's 3-day window is one daily-usage page, each organisation's
    # Claude Code report one page a day; a part run twice would have asked twice.
    for team in ("north", "south"):
        assert accounts.served(team).state.request_counts["daily-usage-data"] == 1
    for org in ("org", "lab"):
        assert accounts.served(org).state.request_counts["usage_report/claude_code"] == 3
    connection = await asyncpg.connect(e2e_database)
    try:
        rows = await connection.fetch(
            "SELECT account, api_key_id, array_agg(DISTINCT user_email) AS owners"
            " FROM fact_claude_daily_usage WHERE source = 'usage_report'"
            " AND api_key_id IS NOT NULL GROUP BY 1, 2"
        )
    finally:
        await connection.close()
    owners = {(row["account"], row["api_key_id"]): set(row["owners"]) - {None} for row in rows}
    shared = {key for account, key in owners if account == "org"} & {
        key for account, key in owners if account == "lab"
    }
    assert shared  # the same key ids in both organisations …
    for key in shared:  # … each attributed to its own organisation's creator
        for account in ("org", "lab"):
            expected = accounts.truth(account).expected_key_owner(key)
            assert owners[account, key] == ({expected} if expected else set()), (account, key)
