"""Creating runs and claiming their parts.

A CLI run is created `running` under the same overlap rule as the API's, its parts claimed by
its own process and heartbeating from their first moment, so a process that dies before its
tracker starts leaves a run the reaper ends `crashed`, not one that blocks its window forever.
Queued runs are cut into (account, sources) parts that any worker claims exactly once, never
beside a running part of another run reading the same account's source over the same days.
"""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from app.orchestration.parts import decide
from app.repositories import run_parts
from app.repositories import runs as runs_repo
from app.repositories.run_queue import OverlappingRun, create_requested_run
from app.repositories.runs import NewRun
from app.vocabulary import RunStatus, RunTrigger, SourceStatus

START, END = date(2026, 8, 1), date(2026, 8, 3)
TABLES = {"cursor": "fact_cursor_daily_usage", "claude_ai": "fact_claude_daily_usage"}


def new_run(parts: list[tuple[str, list[str]]], start: date = START, end: date = END) -> NewRun:
    return NewRun(
        window_start=start,
        window_end=end,
        sources=sorted({source for _, sources in parts for source in sources}),
        accounts=sorted({account for account, _ in parts}),
        parts=parts,
        tables=TABLES,
    )


async def test_a_cli_run_is_running_at_once_and_never_claimed(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        created = await create_requested_run(
            connection, new_run([("default", ["cursor"])]), trigger=RunTrigger.CLI,
            worker_id="cli-process",
        )  # fmt: skip
        run = await runs_repo.get_run(connection, created.run_id)
        assert run is not None
        assert (run.status, run.trigger) == (RunStatus.RUNNING, RunTrigger.CLI)
        assert run.heartbeat_at is not None and run.started_at is not None
        assert [(p.status, p.worker_id) for p in run.parts] == [(RunStatus.RUNNING, "cli-process")]
        assert await run_parts.claim_part(connection, "another-replica") is None
        with pytest.raises(OverlappingRun, match=str(created.run_id)):
            await create_requested_run(connection, new_run([("default", ["cursor"])]))


async def test_a_cli_run_whose_process_died_is_reaped(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        created = await create_requested_run(
            connection, new_run([("default", ["cursor"])]), trigger=RunTrigger.CLI,
            worker_id="cli-process",
        )  # fmt: skip
        await asyncio.sleep(0.05)
        finished = await run_parts.reap_stale_parts(connection, 0.01, decide)
        assert [(run.run_id, run.status, run.trigger) for run in finished] == [
            (created.run_id, RunStatus.CRASHED, RunTrigger.CLI)
        ]
        run = await runs_repo.get_run(connection, created.run_id)
        assert run is not None and run.status_reason is not None
        assert "cli-process stopped heartbeating" in run.status_reason
        assert [p.status for p in run.progress] == [SourceStatus.FAILED]
        again = await create_requested_run(connection, new_run([("default", ["cursor"])]))
    assert again.created


async def test_runs_of_other_accounts_do_not_overlap(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        await create_requested_run(connection, new_run([("north", ["cursor"])]))
        other = await create_requested_run(connection, new_run([("south", ["cursor"])]))
        assert other.created
        with pytest.raises(OverlappingRun):
            await create_requested_run(connection, new_run([("north", ["cursor"])]))


async def test_each_part_is_claimed_once_and_the_last_part_finishes_the_run(
    db: asyncpg.Pool,
) -> None:
    async with db.acquire() as connection:
        created = await create_requested_run(
            connection,
            new_run([("north", ["cursor"]), ("south", ["cursor"]), ("org", ["claude_ai"])]),
        )

    async def claim(worker: str) -> run_parts.ClaimedPart | None:
        async with db.acquire() as connection:
            return await run_parts.claim_part(connection, worker)

    claimed = await asyncio.gather(*(claim(f"worker-{n}") for n in range(6)))
    parts = [part for part in claimed if part is not None]
    assert sorted((p.account, p.sources) for p in parts) == [
        ("north", ("cursor",)), ("org", ("claude_ai",)), ("south", ("cursor",)),
    ]  # fmt: skip
    async with db.acquire() as connection:
        for part in parts:
            for source in part.sources:
                await connection.execute(
                    "UPDATE ingestion_run_sources SET status = $3 WHERE run_id = $1"
                    " AND account = $2 AND source = $4",
                    created.run_id,
                    part.account,
                    SourceStatus.FAILED if part.account == "south" else SourceStatus.SUCCEEDED,
                    source,
                )
            status = RunStatus.FAILED if part.account == "south" else RunStatus.SUCCEEDED
            await run_parts.finish_part(connection, created.run_id, part.part_no, status)
            finished = await run_parts.finish_run_if_done(connection, created.run_id, decide)
            assert (finished is not None) == (part is parts[-1])
        run = await runs_repo.get_run(connection, created.run_id)
    assert run is not None and run.status is RunStatus.PARTIAL
    assert run.status_reason == "south/cursor: did not run"


async def test_a_part_waits_for_a_running_part_of_the_same_account_and_source(
    db: asyncpg.Pool,
) -> None:
    async with db.acquire() as connection:
        first = await create_requested_run(connection, new_run([("north", ["cursor"])]))
        claimed = await run_parts.claim_part(connection, "w1")
        assert claimed is not None and claimed.run_id == first.run_id
        # A scheduled run of an overlapping window (the schedule checks no overlap)…
        await runs_repo.create_run(
            connection, new_run([("north", ["cursor"]), ("south", ["cursor"])], END, END),
            trigger=RunTrigger.SCHEDULE, schedule_job="job", scheduled_for=None,
        )  # fmt: skip
        # … runs its other account's part now, and north's only after the first run's.
        second = await run_parts.claim_part(connection, "w2")
        assert second is not None and second.account == "south"
        assert await run_parts.claim_part(connection, "w3") is None
        await run_parts.finish_part(connection, first.run_id, claimed.part_no, RunStatus.SUCCEEDED)
        third = await run_parts.claim_part(connection, "w3")
        assert third is not None and third.account == "north" and third.run_id != first.run_id


async def test_cancelling_a_running_run_cancels_its_queued_parts(db: asyncpg.Pool) -> None:
    async with db.acquire() as connection:
        created = await create_requested_run(
            connection, new_run([("north", ["cursor"]), ("south", ["cursor"])])
        )
        claimed = await run_parts.claim_part(connection, "w1")
        assert claimed is not None
        outcome = await run_parts.request_cancel(connection, created.run_id, decide)
        assert outcome == (RunStatus.RUNNING, True)  # one part still runs
        assert await run_parts.claim_part(connection, "w2") is None
        await run_parts.end_part_sources(
            connection, created.run_id, claimed.part_no, SourceStatus.CANCELLED, "cancelled"
        )
        await run_parts.finish_part(
            connection, created.run_id, claimed.part_no, RunStatus.CANCELLED
        )
        finished = await run_parts.finish_run_if_done(connection, created.run_id, decide)
    assert finished is not None and finished.status is RunStatus.CANCELLED
