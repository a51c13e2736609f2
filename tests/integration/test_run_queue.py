"""Creating runs: a CLI run is created `running` under the same overlap rule as the API's, and
heartbeats from its first moment, so a process that dies before its tracker starts leaves a run
the reaper ends `crashed`, not one that blocks its window forever."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from app.repositories import runs as runs_repo
from app.repositories.run_queue import OverlappingRun, claim_next, create_requested_run
from app.vocabulary import RunStatus, RunTrigger

WINDOW = {"window_start": date(2026, 8, 1), "window_end": date(2026, 8, 3)}


async def test_a_cli_run_is_running_at_once_and_never_claimed(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        created = await create_requested_run(
            connection, **WINDOW, sources=["cursor"], trigger=RunTrigger.CLI
        )
        run = await runs_repo.get_run(connection, created.run_id)
        assert run is not None
        assert (run.status, run.trigger) == (RunStatus.RUNNING, RunTrigger.CLI)
        assert run.heartbeat_at is not None and run.started_at is not None
        assert await claim_next(connection, "another-replica") is None
        with pytest.raises(OverlappingRun, match=str(created.run_id)):
            await create_requested_run(connection, **WINDOW, sources=["cursor"])


async def test_a_cli_run_whose_process_died_is_reaped(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        created = await create_requested_run(
            connection, **WINDOW, sources=["cursor"], trigger=RunTrigger.CLI
        )
        await asyncio.sleep(0.05)
        reaped = await runs_repo.mark_stale_runs_crashed(connection, timeout_seconds=0.01)
        assert reaped == [(created.run_id, RunTrigger.CLI)]
        again = await create_requested_run(connection, **WINDOW, sources=["cursor"])
    assert again.created
