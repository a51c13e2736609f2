"""`usage-pipeline run` in the foreground: progress, summary, exit code."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal

import asyncpg

from app.api.schemas import RunOut
from app.repositories.run_queue import create_requested_run
from app.repositories.runs import NewRun
from tests.support.services import Simulator


def _run(env: dict[str, str], *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--start", "2026-08-01", "--end", "2026-08-02", "--sources", "cursor,claude_cost", *more],
        env={**os.environ, "COLUMNS": "80", **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _env(database: str, sim: Simulator) -> dict[str, str]:
    return {
        "DATABASE_URL": database,
        "CURSOR_API_KEY": sim.options.cursor_api_key,
        "CURSOR_API_BASE_URL": sim.url,
        "ANTHROPIC_ADMIN_API_KEY": sim.options.admin_api_key,
        "ANTHROPIC_API_BASE_URL": sim.url,
    }


async def test_run_succeeds_then_fails_with_a_bad_key(e2e_database: str, sim: Simulator) -> None:
    env = _env(e2e_database, sim)
    ok = await asyncio.to_thread(_run, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Run 2026-08-01 → 2026-08-02: cursor, claude_usage, claude_cost" in ok.stdout
    assert "Run succeeded." in ok.stdout and "fact_cursor_daily_usage:" in ok.stdout
    # Into a file (`> log.txt`): plain lines, every source name and status whole at 80 columns.
    for source in ("cursor", "claude_usage", "claude_cost"):
        assert f" {source} succeeded days 2/2 pages " in ok.stdout, ok.stdout
    assert "\x1b" not in ok.stdout + ok.stderr and "…" not in ok.stdout
    assert "\nclaude  claude_code  " in ok.stdout  # the cost table, plain, on lines of its own

    as_json = await asyncio.to_thread(_run, env, "--output", "json")  # `| jq` reads each line
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [events[0]["event"], events[-1]["event"]] == ["planned", "finished"], events
    assert events[0]["sources"] == ["cursor", "claude_usage", "claude_cost"]
    assert events[0]["accounts"] == {"default": ["cursor", "claude_usage", "claude_cost"]}
    finished = events[-1]
    assert RunOut.model_validate(finished["run"]).status == "succeeded"
    assert set(finished["summary"]) == {"claude", "cursor", "copilot"}
    billed = [Decimal(row["billed_cost_usd"]) for row in finished["summary"]["claude"]]
    assert sum(billed) > 0 and isinstance(finished["summary"]["cursor"]["charged_cost_usd"], str)

    bad = await asyncio.to_thread(_run, {**env, "CURSOR_API_KEY": "revoked"})
    assert bad.returncode == 1
    assert "Run partial." in bad.stdout
    assert "cursor: cursor rejected CURSOR_API_KEY (HTTP 401: Invalid API key)" in bad.stdout


async def test_run_refuses_to_start_beside_an_overlapping_run(
    e2e_database: str, sim: Simulator
) -> None:
    """The CLI follows the queue's overlap rule, as POST /runs does, and names the run."""
    connection = await asyncpg.connect(e2e_database)
    try:
        day, last = date(2026, 8, 2), date(2026, 8, 5)
        queued = await create_requested_run(
            connection,
            NewRun(day, last, ["claude_cost"], ["default"], [("default", ["claude_cost"])],
                   {"claude_cost": "fact_claude_daily_usage"}),
        )  # fmt: skip
    finally:
        await connection.close()
    env = _env(e2e_database, sim)
    refused = await asyncio.to_thread(_run, env)
    assert refused.returncode == 5, refused.stdout + refused.stderr  # ExitCode.CONFLICT
    assert f"run {queued.run_id} is already queued or running" in refused.stderr
